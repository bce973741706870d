using System.Security.Cryptography;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Caching;
using Keystone.Data.Vectors;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Caching;

/// <summary>
/// A cache hit: the stored answer, what it cost when a model gave it, the call that gave it and which model that was,
/// and for a semantic hit how close the question was.
/// </summary>
internal sealed record CacheHit(CachedAnswer Answer, long CostMicros, Guid? SourceCallId, string? Provider, string? Model, double? Similarity = null);

/// <summary>
/// The semantic cache (pipeline step 5, opt-in per feature): a request whose context — tenant, alias, every message
/// but the last, tools, response format, sampling parameters, prompt version — equals a cached one and whose last
/// user message is close in meaning (cosine similarity of their embeddings at or above the feature's threshold) is
/// answered with the cached answer. Only the last user message is compared, so a paraphrased question in the same
/// conversation hits and the same question after a different conversation does not. The tenant is in the key and
/// in the row (RLS on PostgreSQL): entries are never compared across tenants. The vector search is the one knowledge
/// retrieval uses too (<see cref="VectorSearch"/>: pgvector HNSW on PostgreSQL, an in-memory SIMD scan on SQLite,
/// decision 0044); storing an entry and everything that decides whether a request uses the cache is the same in both modes.
/// </summary>
internal sealed class SemanticCache(KeystoneDbFactory dbFactory, VectorSearch vectors, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
{
    /// <summary>The feature's similarity threshold when this request uses the semantic cache; null when it does not.</summary>
    public static double? ThresholdFor(ChatRequest request, FeatureOptions? feature)
    {
        // An explicit "cache": false from the caller turns off every cache; tool calls and multi-choice answers are
        // never served by meaning (a paraphrase may need other arguments).
        if (feature is not { SemanticCache: true } || request.Cache == false || request.Tools is { Count: > 0 } || QuestionOf(request) is null)
        {
            return null;
        }

        return feature.SemanticThreshold;
    }

    /// <summary>The last message when it is a user message with text: what is compared by meaning.</summary>
    public static string? QuestionOf(ChatRequest request)
        => request.Messages is { Count: > 0 } m && m[^1] is { Role: var role, Content: { } text } && role.Equals("user", StringComparison.OrdinalIgnoreCase)
            && !string.IsNullOrWhiteSpace(text) ? text : null;

    /// <summary>SHA-256 over everything that must match exactly: all but the last message, and the embedding model.</summary>
    public static string ContextKey(Guid tenantId, string alias, ChatRequest r, Guid? promptVersionId, string embeddingModel)
    {
        var earlier = r with { Messages = [.. r.Messages.Take(r.Messages.Count - 1)] };
        var canonical = new { kind = "semantic", embeddingModel = embeddingModel.ToLowerInvariant(), exact = ExactCache.Key(tenantId, alias, earlier, promptVersionId) };
        return Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(canonical, ExactCache.JsonOptions)));
    }

    /// <summary>
    /// The closest cached answer of this context at or above <paramref name="threshold"/>, if any; only entries embedded
    /// by <paramref name="embeddingModel"/> (<c>provider/model</c>) are compared. The vector search is the product's one
    /// (<see cref="VectorSearch"/>, per database mode). On PostgreSQL the search reads the winner's answer in its own
    /// query (one round trip, one snapshot); on SQLite, whose search runs over vectors held in memory, the winner's answer
    /// is then read from the table by id and tenant, so an entry deleted since the search (the expiry job) is a miss,
    /// never a stale answer.
    /// </summary>
    public async Task<CacheHit?> FindAsync(Guid tenantId, string contextKey, string embeddingModel, float[] vector, double threshold,
        CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var query = new VectorQuery(VectorTable.SemanticCache, tenantId, StoredModelName(embeddingModel), vector, 1) { ContextKey = contextKey, LiveAt = now };
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var best = await vectors.NearestCacheEntryAsync(query, threshold, ct);
            if (best is null || best.Similarity < threshold)
            {
                return null;
            }

            var row = best.Answer ?? await ReadAnswerAsync(tenantId, best.RowId, ct);
            if (row is not null)
            {
                var answer = JsonSerializer.Deserialize<CachedAnswer>(row.ResponseJson, ExactCache.JsonOptions);
                return answer is null ? null : new CacheHit(answer, row.CostMicros, row.SourceCallId, row.Provider, row.Model, best.Similarity);
            }

            // The winner was deleted after the search's copy was loaded (the expiry job, a cleared cache): never a stale
            // answer; the copy is reloaded from the table and searched once more, so a live entry it shadowed still hits.
            vectors.Changed(VectorTable.SemanticCache, tenantId);
        }

        return null;
    }

    /// <summary>The entry's answer read by id and tenant; null when it is gone.</summary>
    private async Task<CacheEntryAnswer?> ReadAnswerAsync(Guid tenantId, long rowId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        return await db.SemanticCache.AsNoTracking()
            .Where(e => e.Id == rowId && e.TenantId == tenantId)
            .Select(e => new CacheEntryAnswer(e.ResponseJson, e.CostMicros, e.SourceCallId, e.Provider, e.Model))
            .FirstOrDefaultAsync(ct);
    }

    public async Task PutAsync(Guid tenantId, string contextKey, string question, float[] vector, string embeddingModel, string alias,
        string? provider, string? model, CachedAnswer answer, long costMicros, Guid sourceCallId, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(tenantId);
        db.SemanticCache.Add(new SemanticCacheEntry
        {
            TenantId = tenantId,
            ContextKey = contextKey,
            Question = question.Length > SemanticCacheEntry.QuestionMaxLength ? question[..SemanticCacheEntry.QuestionMaxLength] : question,
            Embedding = vector,
            EmbeddingModel = StoredModelName(embeddingModel),
            Alias = alias,
            Provider = provider,
            Model = model,
            ResponseJson = JsonSerializer.Serialize(answer, ExactCache.JsonOptions),
            CostMicros = costMicros,
            SourceCallId = sourceCallId,
            CreatedUtc = now,
            ExpiresUtc = now + options.CurrentValue.CacheTtl,
        });
        await db.SaveChangesAsync(ct);
    }

    /// <summary>The embedding model's name as the column holds it (cut to its length).</summary>
    private static string StoredModelName(string embeddingModel) => embeddingModel.Length > SemanticCacheEntry.EmbeddingModelMaxLength
        ? embeddingModel[..SemanticCacheEntry.EmbeddingModelMaxLength] : embeddingModel;

    /// <summary>Cosine similarity (<see cref="VectorSearch.Cosine"/>).</summary>
    internal static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => VectorSearch.Cosine(a, b);
}
