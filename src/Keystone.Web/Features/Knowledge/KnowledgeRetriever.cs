using System.Diagnostics;
using Keystone.Data;
using Keystone.Data.Knowledge;
using Keystone.Gateway;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// Hybrid retrieval for one tenant: the question is embedded through the gateway (as the tenant, feature
/// <c>embeddings</c>), the text index and the vector index each rank candidates, and reciprocal rank fusion
/// (score = Σ 1 / (60 + rank)) merges them, so a chunk high in either list rises and one high in both rises most,
/// without comparing BM25 numbers to cosine numbers. The vector side reads only vectors of the model that embedded
/// the question: models never mix in one ranking.
/// </summary>
internal sealed class KnowledgeRetriever(
    KeystoneDbFactory dbFactory,
    ILlmGateway gateway,
    IKnowledgeSearch search,
    IOptions<KnowledgeOptions> options)
{
    /// <summary>The RRF constant from Cormack et al. (2009): damps the weight of the very first ranks.</summary>
    public const int RrfK = 60;

    public const int MaxQueryLength = 2_000;

    public async Task<RetrievalResult> RetrieveAsync(Guid tenantId, RetrievalQuery query, CallContext? caller, CancellationToken ct,
        RetrievalStages? stages = null)
    {
        if (string.IsNullOrWhiteSpace(query.Query))
        {
            throw new KnowledgeRequestException("query", "Write a question to search for.");
        }

        if (query.Query.Length > MaxQueryLength)
        {
            throw new KnowledgeRequestException("query", $"The question is {query.Query.Length:N0} characters; at most {MaxQueryLength:N0} are searched.");
        }

        var max = options.Value.MaxTopK;
        if (query.K < 1 || query.K > max)
        {
            throw new KnowledgeRequestException("k", $"k must be between 1 and {max}.");
        }

        if (query.Tag is { } tag && !KnowledgeTags.IsValid(tag))
        {
            throw new KnowledgeRequestException("tag", $"'{tag}' is not a valid tag: use {KnowledgeTags.Rule}.");
        }

        using var flow = RetrievalStages.Enter(stages);
        var started = Stopwatch.GetTimestamp();
        var filter = new RetrievalFilter(query.DocumentIds, query.Tag);
        var candidates = Math.Max(50, query.K * 5);

        // The text half needs only the question's words: it runs beside the embedding (a model call through the gateway,
        // the longest step) and the vector half, on its own connection, instead of after them. Its result is the same as
        // when it ran second; only the wait changes (docs/benchmarks.md, issue 24). A failed embedding stops it.
        using var textStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var textHalf = TextHalfAsync(tenantId, query.Query, filter, candidates, stages, textStop.Token);
        string? model;
        IReadOnlyList<Guid> similar;
        try
        {
            var step = Stopwatch.GetTimestamp();
            var embedding = await gateway.EmbedAsync(
                new EmbeddingRequest { Model = options.Value.EmbeddingAlias, Inputs = [query.Query] },
                (caller ?? new CallContext { TenantId = tenantId }) with { TenantId = tenantId, Feature = KnowledgeEmbeddingJob.Feature },
                ct);
            stages?.EmbedMs = RetrievalStages.Since(step);
            model = embedding.Outcome.Provider is { } p && embedding.Outcome.Model is { } m ? $"{p}/{m}" : null;
            var vector = embedding.Vectors.Count == 1 ? embedding.Vectors[0] : null;

            step = Stopwatch.GetTimestamp();
            similar = model is not null && vector is { Length: > 0 }
                ? await search.VectorAsync(tenantId, model, vector, filter, candidates, ct)
                : [];
            stages?.VectorMs = RetrievalStages.Since(step);
        }
        catch
        {
            await textStop.CancelAsync();
            await Task.WhenAny(textHalf);
            throw;
        }

        var waited = Stopwatch.GetTimestamp();
        var text = await textHalf;
        stages?.TextWaitMs = RetrievalStages.Since(waited);

        var fuse = Stopwatch.GetTimestamp();
        var fused = Fuse(text, similar).Take(query.K).ToList();
        stages?.FuseMs = RetrievalStages.Since(fuse);
        if (fused.Count == 0)
        {
            stages?.TotalMs = RetrievalStages.Since(started);
            return new RetrievalResult([], model);
        }

        var fetch = Stopwatch.GetTimestamp();
        var rows = await ChunksAsync(tenantId, [.. fused.Select(f => f.ChunkId)], ct);
        stages?.FetchMs = RetrievalStages.Since(fetch);
        var hits = fused.Where(f => rows.ContainsKey(f.ChunkId)).Select(f =>
        {
            var r = rows[f.ChunkId];
            return new RetrievalHit(r.DocumentId, r.Name, r.Title, r.Section, r.Id, r.Position, r.Header, r.Text, f.Score, f.TextRank, f.VectorRank);
        }).ToList();
        stages?.TotalMs = RetrievalStages.Since(started);
        return new RetrievalResult(hits, model);
    }

    private async Task<IReadOnlyList<Guid>> TextHalfAsync(Guid tenantId, string question, RetrievalFilter filter, int candidates,
        RetrievalStages? stages, CancellationToken ct)
    {
        // Yield first, so the embedding's call starts at once beside it rather than after the text half's first await.
        await Task.Yield();
        var step = Stopwatch.GetTimestamp();
        var found = await search.TextAsync(tenantId, SearchWords.Of(question), filter, candidates, ct);
        stages?.TextMs = RetrievalStages.Since(step);
        return found;
    }

    /// <summary>
    /// The cited chunks with their documents, read by primary key. The tenant is checked on the rows read, not in the
    /// query: with a <c>tenant_id = @tenant</c> term beside <c>id IN (@ids…)</c>, SQLite (no statistics) picks the
    /// <c>tenant_id</c> index — one row per key, it assumes — and walks every chunk of the tenant with its text to find
    /// the five it wants: 35–45 ms at 100,000 chunks, most of a retrieval (docs/benchmarks.md). The context's tenant
    /// filter is an <c>OR</c> no index can serve, so the primary key is the only usable index; PostgreSQL adds its
    /// row-level security policy and plans with statistics. The ids came from this tenant's own search; the check on the
    /// rows keeps another tenant's chunk out even if they had not.
    /// </summary>
    internal async Task<Dictionary<Guid, ChunkRow>> ChunksAsync(Guid tenantId, List<Guid> ids, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var rows = await ChunkRows(db, ids).ToListAsync(ct);
        return rows.Where(r => r.TenantId == tenantId).ToDictionary(r => r.Id);
    }

    /// <summary>The chunk fetch's query (its plan is tested: <c>KnowledgeChunkFetchTests</c>).</summary>
    internal static IQueryable<ChunkRow> ChunkRows(KeystoneDbContext db, List<Guid> ids)
        => db.Set<KnowledgeChunk>().AsNoTracking()
            .Where(c => ids.Contains(c.Id))
            .Join(db.Set<KnowledgeDocument>(), c => c.DocumentId, d => d.Id,
                (c, d) => new ChunkRow(c.Id, c.TenantId, c.DocumentId, d.Name, d.Title, c.Section, c.Position, c.Header, c.Text));

    internal sealed record ChunkRow(Guid Id, Guid TenantId, Guid DocumentId, string Name, string Title, string Section, int Position, string Header, string Text);

    /// <summary>Reciprocal rank fusion of the two rankings (1-based ranks), best first; ties keep the text ranking's order.</summary>
    internal static IEnumerable<(Guid ChunkId, double Score, int? TextRank, int? VectorRank)> Fuse(IReadOnlyList<Guid> text, IReadOnlyList<Guid> vector)
    {
        var scores = new Dictionary<Guid, (double Score, int? TextRank, int? VectorRank, int Order)>();
        for (var i = 0; i < text.Count; i++)
        {
            scores[text[i]] = (1.0 / (RrfK + i + 1), i + 1, null, i);
        }

        for (var i = 0; i < vector.Count; i++)
        {
            var add = 1.0 / (RrfK + i + 1);
            scores[vector[i]] = scores.TryGetValue(vector[i], out var s)
                ? (s.Score + add, s.TextRank, i + 1, s.Order)
                : (add, null, i + 1, text.Count + i);
        }

        return scores.OrderByDescending(s => s.Value.Score).ThenBy(s => s.Value.Order)
            .Select(s => (s.Key, s.Value.Score, s.Value.TextRank, s.Value.VectorRank));
    }
}
