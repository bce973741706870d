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
internal sealed class KnowledgeTermStats(TimeProvider clock)
{
    /// <summary>Below this many chunks of the tenant every word is searched.</summary>
    public const int MinChunks = 1_000;

    /// <summary>How long a count is trusted.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    /// <summary>Counts kept (words × tenants); the whole cache is dropped past this, so memory stays bounded.</summary>
    private const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<(Guid Tenant, string Word), (long Count, DateTimeOffset At)> _counts = new();

    /// <summary>
    /// The words to search for: <paramref name="words"/> less those in at least half of the tenant's
    /// <paramref name="total"/> chunks. <paramref name="count"/> counts the tenant's chunks matching one word (as the
    /// text index tokenizes it: stemmed, stop words dropped); it is given the tenant's chunk count and may answer any upper
    /// bound below half of it instead of the exact count (a word rare everywhere is rare for the tenant).
    /// </summary>
    public async Task<IReadOnlyList<string>> SelectiveAsync(Guid tenantId, IReadOnlyList<string> words,
        Func<CancellationToken, Task<long>> total, Func<string, long, CancellationToken, Task<long>> count, CancellationToken ct)
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

        var kept = new List<string>(words.Count);
        foreach (var word in words)
        {
            if (await CachedAsync(tenantId, word, c => count(word, chunks, c), ct) * 2 < chunks)
            {
                kept.Add(word);
            }
        }

        return kept;
    }

    private async Task<long> CachedAsync(Guid tenantId, string word, Func<CancellationToken, Task<long>> read, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (_counts.TryGetValue((tenantId, word), out var hit) && now - hit.At < Lifetime)
        {
            return hit.Count;
        }

        var value = await read(ct);
        if (_counts.Count >= MaxEntries)
        {
            _counts.Clear();
        }

        _counts[(tenantId, word)] = (value, now);
        return value;
    }
}
