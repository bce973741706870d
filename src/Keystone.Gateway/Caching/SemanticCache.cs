using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Caching;
using Keystone.Gateway.Pipeline;
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
/// in the row (RLS on PostgreSQL): entries are never compared across tenants. The lookup differs by database mode
/// (<see cref="PostgresSemanticCache"/>, <see cref="SqliteSemanticCache"/>, chosen when the gateway is registered);
/// storing an entry and everything that decides whether a request uses the cache does not.
/// </summary>
internal abstract class SemanticCache(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
{
    protected KeystoneDbFactory DbFactory => dbFactory;

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
    /// by <paramref name="embeddingModel"/> (<c>provider/model</c>) are compared.
    /// </summary>
    public async Task<CacheHit?> FindAsync(Guid tenantId, string contextKey, string embeddingModel, float[] vector, double threshold,
        CancellationToken ct)
    {
        var best = await FindClosestAsync(tenantId, contextKey, embeddingModel, vector, clock.GetUtcNow().UtcDateTime, ct);
        if (best is null || best.Similarity < threshold)
        {
            return null;
        }

        var answer = JsonSerializer.Deserialize<CachedAnswer>(best.ResponseJson, ExactCache.JsonOptions);
        return answer is null ? null : new CacheHit(answer, best.CostMicros, best.SourceCallId, best.Provider, best.Model, best.Similarity);
    }

    /// <summary>The live entry of the context closest in meaning to <paramref name="vector"/>, with its similarity.</summary>
    protected abstract Task<Candidate?> FindClosestAsync(Guid tenantId, string contextKey, string embeddingModel, float[] vector, DateTime now,
        CancellationToken ct);

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
            EmbeddingModel = embeddingModel.Length > SemanticCacheEntry.EmbeddingModelMaxLength
                ? embeddingModel[..SemanticCacheEntry.EmbeddingModelMaxLength] : embeddingModel,
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

    /// <summary>
    /// Cosine similarity, vectorized (SIMD through <see cref="TensorPrimitives"/>, as the SQLite mode compares every live
    /// stored vector of the context per lookup in process); 0 for vectors of different or zero length and for a zero
    /// vector (never a match).
    /// </summary>
    internal static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length || a.Length == 0)
        {
            return 0;
        }

        var similarity = TensorPrimitives.CosineSimilarity(a, b);
        return float.IsNaN(similarity) ? 0 : similarity;
    }

    protected sealed record Candidate(string ResponseJson, long CostMicros, Guid? SourceCallId, string? Provider, string? Model, double Similarity);
}
