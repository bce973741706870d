using System.Collections.Frozen;
using System.Text.RegularExpressions;
using Keystone.Data;
using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Pricing;

/// <summary>
/// The price table in memory (it is on every call's hot path) and the cost calculator. Loaded once from
/// <c>model_prices</c>, replaced as a whole by <see cref="ReloadAsync"/> when rows change.
/// </summary>
/// <remarks>
/// Rounding: every token type is multiplied by its micro-USD-per-million rate in 128-bit integers, the
/// products are summed, and the sum is divided by 1,000,000 (× 100 with a batch discount) once, rounding
/// half up. So a call is never charged more than half a micro-USD away from the exact price, and splitting
/// tokens into types never adds rounding error.
/// </remarks>
public sealed partial class PriceBook(KeystoneDbFactory dbFactory) : IDisposable
{
    private volatile Snapshot? _snapshot;
    private readonly SemaphoreSlim _loadLock = new(1, 1);

    /// <summary>True once the prices have been read from the database.</summary>
    public bool IsLoaded => _snapshot is not null;

    /// <summary>How many price rows are in memory (0 before loading).</summary>
    public int Count => _snapshot?.Count ?? 0;

    /// <summary>Reads every price row and replaces the in-memory table.</summary>
    public async Task ReloadAsync(CancellationToken ct)
    {
        await _loadLock.WaitAsync(ct);
        try
        {
            await using var db = dbFactory.ForSystem();
            var rows = await db.ModelPrices.AsNoTracking()
                .Select(p => new PriceRow(p.Provider, p.Model, p.EffectiveFromUtc, p.InputMicrosPerMillion, p.OutputMicrosPerMillion,
                    p.CachedInputMicrosPerMillion, p.CacheWrite5mMicrosPerMillion, p.CacheWrite1hMicrosPerMillion, p.BatchDiscountPercent, p.Source))
                .ToListAsync(ct);
            var signature = await SignatureAsync(db, ct);
            _snapshot = new Snapshot(rows, signature);
        }
        finally
        {
            _loadLock.Release();
        }
    }

    /// <summary>Releases the reload lock (the book is a singleton: the container disposes it at shutdown).</summary>
    public void Dispose() => _loadLock.Dispose();

    /// <summary>Reloads when the rows in the database differ from the ones in memory (count or highest id changed).</summary>
    /// <returns>True when it reloaded.</returns>
    public async Task<bool> RefreshIfChangedAsync(CancellationToken ct)
    {
        var current = _snapshot;
        if (current is not null)
        {
            await using var db = dbFactory.ForSystem();
            if (await SignatureAsync(db, ct) == current.Signature)
            {
                return false;
            }
        }

        await ReloadAsync(ct);
        return true;
    }

    /// <summary>Loads the table on first use.</summary>
    public ValueTask EnsureLoadedAsync(CancellationToken ct) => _snapshot is not null ? ValueTask.CompletedTask : new(ReloadAsync(ct));

    /// <summary>The price in force for a provider model at <paramref name="atUtc"/>, or null.</summary>
    /// <param name="provider">The price key: provider kind in lower case (see <c>ProviderRegistry.PriceKeyOf</c>).</param>
    /// <param name="model">The provider model; a dated snapshot (<c>gpt-4o-2024-08-06</c>, <c>claude-sonnet-4-5-20250929</c>) falls back to its base name.</param>
    /// <param name="atUtc">The call's time.</param>
    public PriceRow? Find(string provider, string model, DateTime atUtc)
    {
        var snapshot = _snapshot ?? throw new InvalidOperationException("The price book is not loaded yet: call EnsureLoadedAsync first.");
        return snapshot.Find(provider, model, atUtc)
            ?? (DatedSuffix().Match(model) is { Success: true } m ? snapshot.Find(provider, model[..m.Index], atUtc) : null);
    }

    /// <summary>
    /// The dearest price in the table for a kind of model, input and output taken separately (they may come from two
    /// rows): what a model without a price is costed at by default. Chat models are the rows with an output price,
    /// embedding models the rows without one; with no embedding row the dearest chat input price is used. Null when the
    /// table is empty.
    /// </summary>
    /// <param name="embedding">True for embedding models.</param>
    public PriceRow? Highest(bool embedding)
    {
        var snapshot = _snapshot ?? throw new InvalidOperationException("The price book is not loaded yet: call EnsureLoadedAsync first.");
        return embedding ? snapshot.HighestEmbedding : snapshot.HighestChat;
    }

    /// <summary>Costs <paramref name="usage"/> with the price in force at <paramref name="atUtc"/>; unknown when there is none.</summary>
    /// <param name="provider">The price key (provider kind in lower case).</param>
    /// <param name="model">The provider model.</param>
    /// <param name="usage">Tokens by type (input includes cached reads and cache writes; output includes reasoning).</param>
    /// <param name="atUtc">The call's time.</param>
    /// <param name="batch">Apply the provider's batch discount.</param>
    public CostQuote Calculate(string provider, string model, Usage usage, DateTime atUtc, bool batch = false)
    {
        var price = Find(provider, model, atUtc);
        return price is null ? CostQuote.Unknown : Calculate(price, usage, batch);
    }

    /// <summary>Like <see cref="Calculate(string, string, Usage, DateTime, bool)"/>, loading the table first if needed.</summary>
    public async ValueTask<CostQuote> CalculateAsync(string provider, string model, Usage usage, DateTime atUtc, CancellationToken ct)
    {
        await EnsureLoadedAsync(ct);
        return Calculate(provider, model, usage, atUtc);
    }

    /// <summary>Costs <paramref name="usage"/> with an explicit price (see the type's remarks for the rounding).</summary>
    public static CostQuote Calculate(PriceRow price, Usage usage, bool batch = false)
    {
        long cached = Math.Max(0, usage.CachedInputTokens);
        long write5m = Math.Max(0, usage.CacheWriteTokens);
        long write1h = Math.Max(0, usage.CacheWrite1hTokens);
        long uncached = Math.Max(0, (long)usage.InputTokens - cached - write5m - write1h);
        long output = Math.Max(0, usage.OutputTokens);

        // A provider without a separate rate for a token type bills it as plain input.
        var cachedRate = price.CachedInputMicrosPerMillion ?? price.InputMicrosPerMillion;
        var write5mRate = price.CacheWrite5mMicrosPerMillion ?? price.InputMicrosPerMillion;
        var write1hRate = price.CacheWrite1hMicrosPerMillion ?? price.InputMicrosPerMillion;

        Int128 numerator = (Int128)uncached * price.InputMicrosPerMillion
            + (Int128)cached * cachedRate
            + (Int128)write5m * write5mRate
            + (Int128)write1h * write1hRate
            + (Int128)output * price.OutputMicrosPerMillion;
        Int128 denominator = 1_000_000;
        if (batch && price.BatchDiscountPercent > 0)
        {
            numerator *= 100 - price.BatchDiscountPercent;
            denominator *= 100;
        }

        var total = (long)((numerator + denominator / 2) / denominator);
        var breakdown = new CostBreakdown(uncached, cached, write5m, write1h, output,
            uncached * (decimal)price.InputMicrosPerMillion / 1_000_000m,
            cached * (decimal)cachedRate / 1_000_000m,
            write5m * (decimal)write5mRate / 1_000_000m,
            write1h * (decimal)write1hRate / 1_000_000m,
            output * (decimal)price.OutputMicrosPerMillion / 1_000_000m);
        return new CostQuote(CostStatus.Exact, total, price, breakdown);
    }

    private static async Task<(int Count, long MaxId)> SignatureAsync(KeystoneDbContext db, CancellationToken ct)
    {
        var count = await db.ModelPrices.CountAsync(ct);
        var maxId = count == 0 ? 0 : await db.ModelPrices.MaxAsync(p => p.Id, ct);
        return (count, maxId);
    }

    [GeneratedRegex(@"-(\d{4}-\d{2}-\d{2}|\d{8})$", RegexOptions.CultureInvariant)]
    private static partial Regex DatedSuffix();

    private sealed class Snapshot
    {
        // Provider → model → rows newest first: the first row not after the call's time is in force. Two lookups
        // instead of one on a concatenated key keep the hot path free of allocations.
        private readonly FrozenDictionary<string, FrozenDictionary<string, PriceRow[]>> _byProvider;

        public Snapshot(IReadOnlyList<PriceRow> rows, (int, long) signature)
        {
            Signature = signature;
            Count = rows.Count;
            var chat = rows.Where(r => r.OutputMicrosPerMillion > 0).ToList();
            var embeddings = rows.Where(r => r.OutputMicrosPerMillion == 0).ToList();
            if (chat.Count > 0)
            {
                HighestChat = Fallback(chat.Max(r => r.InputMicrosPerMillion), chat.Max(r => r.OutputMicrosPerMillion));
            }

            if (embeddings.Count > 0 || chat.Count > 0)
            {
                HighestEmbedding = Fallback((embeddings.Count > 0 ? embeddings : chat).Max(r => r.InputMicrosPerMillion), 0);
            }

            _byProvider = rows.GroupBy(r => r.Provider, StringComparer.OrdinalIgnoreCase)
                .ToFrozenDictionary(
                    p => p.Key,
                    p => p.GroupBy(r => r.Model, StringComparer.OrdinalIgnoreCase)
                        .ToFrozenDictionary(m => m.Key, m => m.OrderByDescending(r => r.EffectiveFromUtc).ToArray(), StringComparer.OrdinalIgnoreCase),
                    StringComparer.OrdinalIgnoreCase);
        }

        public (int, long) Signature { get; }

        public PriceRow? HighestChat { get; }

        public PriceRow? HighestEmbedding { get; }

        // No cached-read or cache-write discount: every input token at the full fallback rate.
        private static PriceRow Fallback(long input, long output)
            => new("fallback", "unpriced", DateTime.MinValue, input, output, null, null, null, 0, "fallback");

        public int Count { get; }

        public PriceRow? Find(string provider, string model, DateTime atUtc)
        {
            if (!_byProvider.TryGetValue(provider, out var models) || !models.TryGetValue(model, out var rows))
            {
                return null;
            }

            foreach (var row in rows)
            {
                if (row.EffectiveFromUtc <= atUtc)
                {
                    return row;
                }
            }

            return null;
        }
    }
}
