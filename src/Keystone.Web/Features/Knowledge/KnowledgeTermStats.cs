using System.Collections.Concurrent;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// Which words of a question are worth a full-text search in one tenant's knowledge base. A word found in at least half
/// of the tenant's chunks tells the ranking nothing — BM25 gives it no weight (FTS5 clamps its IDF, log((N − n + 0.5) /
/// (n + 0.5)), to almost zero from n ≥ N/2) — but it makes nearly every chunk a candidate that must be ranked: at
/// 100,000 chunks that was 200–300 ms of the text half, and the chunks it alone matched came back in an arbitrary order
/// that rank fusion then counted like real matches. Such words are left out of the text half once the tenant holds
/// <see cref="MinChunks"/> chunks (below that, ranking every candidate costs little). The counts are the tenant's own
/// (another tenant's documents never change what is searched) and kept for <see cref="Lifetime"/>: a new document
/// changes them slowly, and a count an hour old only moves the line for a word near half — while counting a word found
/// in most of 100,000 chunks costs about 100 ms on SQLite, too much to pay often.
/// </summary>
/// <remarks>
/// Two ways to know the counts, one per database. SQLite counts each word of a question the first time it is asked (FTS5
/// answers a word's count over the whole index cheaply, and bounds settle most words without the tenant's count:
/// <see cref="SqliteKnowledgeSearch"/>). PostgreSQL reads the tenant's word statistics in one pass (<see cref="CommonAsync"/>,
/// <c>ts_stat</c>) and keeps the words in half the chunks: a question's new word then costs no count at all, where
/// counting it cost a read of every chunk holding it (the cold counts were the 100,000-chunk retrieval's p95 tail). An
/// expired pass is served while a new one runs in the background, so only a tenant's very first question waits for it.
/// </remarks>
internal sealed partial class KnowledgeTermStats(TimeProvider clock, ILogger<KnowledgeTermStats>? log = null)
{
    /// <summary>Below this many chunks of the tenant every word is searched.</summary>
    public const int MinChunks = 1_000;

    /// <summary>How long a count is trusted.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    /// <summary>Counts kept (words × tenants); the whole cache is dropped past this, so memory stays bounded.</summary>
    private const int MaxEntries = 100_000;

    /// <summary>Tenants whose one-pass statistics are kept; the cache is dropped past this, so memory stays bounded.</summary>
    private const int MaxTenants = 10_000;

    private readonly ConcurrentDictionary<(Guid Tenant, string Word), (long Count, DateTimeOffset At)> _counts = new();

    private readonly ConcurrentDictionary<Guid, (Task<CommonWords> Pass, DateTimeOffset At)> _tenants = new();

    private readonly ConcurrentDictionary<Guid, byte> _refreshing = new();

    /// <summary>
    /// The tenant's chunk count and its words (as the text index stores them: stemmed lexemes) found in at least half of
    /// its chunks, from <paramref name="pass"/> — run once per tenant and <see cref="Lifetime"/>. Callers asking at once
    /// share one pass; past its lifetime the kept answer is returned while one new pass runs in the background.
    /// </summary>
    public async Task<CommonWords> CommonAsync(Guid tenantId, Func<CancellationToken, Task<CommonWords>> pass, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (_tenants.TryGetValue(tenantId, out var kept) && kept.Pass.IsCompletedSuccessfully)
        {
            if (now - kept.At >= Lifetime)
            {
                Refresh(tenantId, pass);
            }

            return kept.Pass.Result;
        }

        if (kept.Pass is null || kept.Pass.IsFaulted || kept.Pass.IsCanceled)
        {
            if (_tenants.Count >= MaxTenants)
            {
                _tenants.Clear();
            }

            // Not tied to this caller's cancellation: the others waiting for the same pass still want it.
            var started = (Task: pass(CancellationToken.None), At: now);
            kept = _tenants.AddOrUpdate(tenantId, started, (_, old) => old.Pass is { IsFaulted: false, IsCanceled: false } ? old : started);
        }

        return await kept.Pass.WaitAsync(ct);
    }

    [LoggerMessage(EventId = 2430, Level = LogLevel.Warning, Message = "Refreshing the knowledge word statistics of tenant {TenantId} failed; the kept ones stay in use.")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception, Guid tenantId);

    private void Refresh(Guid tenantId, Func<CancellationToken, Task<CommonWords>> pass)
    {
        if (!_refreshing.TryAdd(tenantId, 0))
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                var fresh = await pass(CancellationToken.None);
                _tenants[tenantId] = (Task.FromResult(fresh), clock.GetUtcNow());
            }
            catch (Exception ex)
            {
                // The kept statistics stay in use; the next question past the lifetime tries again.
                if (log is not null)
                {
                    LogRefreshFailed(log, ex, tenantId);
                }
            }
            finally
            {
                _refreshing.TryRemove(tenantId, out _);
            }
        });
    }

    /// <summary>
    /// The words to search for: <paramref name="words"/> less those in at least half of the tenant's
    /// <paramref name="total"/> chunks. <paramref name="count"/> counts the tenant's chunks matching one word (as the
    /// text index tokenizes it: stemmed, stop words dropped); it is given the tenant's chunk count and may answer any upper
    /// bound below half of it instead of the exact count (a word rare everywhere is rare for the tenant).
    /// </summary>
    public Task<IReadOnlyList<string>> SelectiveAsync(Guid tenantId, IReadOnlyList<string> words,
        Func<CancellationToken, Task<long>> total, Func<string, long, CancellationToken, Task<long>> count, CancellationToken ct)
    {
        Func<IReadOnlyList<string>, long, CancellationToken, Task<IReadOnlyList<long>>> oneByOne = async (cold, chunks, c) =>
        {
            var counts = new long[cold.Count];
            for (var i = 0; i < cold.Count; i++)
            {
                counts[i] = await count(cold[i], chunks, c);
            }

            return counts;
        };
        return SelectiveAsync(tenantId, words, total, oneByOne, ct);
    }

    /// <summary>
    /// As above, with every word whose count is not kept counted in one call: <paramref name="countAll"/> answers one
    /// count (or upper bound below half) per word, in order — one query for all of a question's new words instead of one each.
    /// </summary>
    public async Task<IReadOnlyList<string>> SelectiveAsync(Guid tenantId, IReadOnlyList<string> words,
        Func<CancellationToken, Task<long>> total, Func<IReadOnlyList<string>, long, CancellationToken, Task<IReadOnlyList<long>>> countAll,
        CancellationToken ct)
    {
        if (words.Count == 0)
        {
            return words;
        }

        var chunks = await CachedAsync(tenantId, "", total, ct);
        if (chunks < MinChunks)
        {
            return words;
        }

        var now = clock.GetUtcNow();
        var known = new Dictionary<string, long>(StringComparer.Ordinal);
        var cold = new List<string>();
        foreach (var word in words)
        {
            if (_counts.TryGetValue((tenantId, word), out var hit) && now - hit.At < Lifetime)
            {
                known[word] = hit.Count;
            }
            else if (!known.ContainsKey(word) && !cold.Contains(word, StringComparer.Ordinal))
            {
                cold.Add(word);
            }
        }

        if (cold.Count > 0)
        {
            var counts = await countAll(cold, chunks, ct);
            for (var i = 0; i < cold.Count; i++)
            {
                known[cold[i]] = counts[i];
                Keep(tenantId, cold[i], counts[i], now);
            }
        }

        return [.. words.Where(w => known[w] * 2 < chunks)];
    }

    private async Task<long> CachedAsync(Guid tenantId, string word, Func<CancellationToken, Task<long>> read, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (_counts.TryGetValue((tenantId, word), out var hit) && now - hit.At < Lifetime)
        {
            return hit.Count;
        }

        var value = await read(ct);
        Keep(tenantId, word, value, now);
        return value;
    }

    private void Keep(Guid tenantId, string word, long count, DateTimeOffset at)
    {
        if (_counts.Count >= MaxEntries)
        {
            _counts.Clear();
        }

        _counts[(tenantId, word)] = (count, at);
    }
}

/// <summary>A tenant's chunk count and the words (stemmed lexemes) in at least half of its chunks.</summary>
internal sealed record CommonWords(long Chunks, IReadOnlyList<string> Lexemes)
{
    /// <summary>Whether the tenant is small enough that every word is searched.</summary>
    public bool SearchesEveryWord => Chunks < KnowledgeTermStats.MinChunks;
}
