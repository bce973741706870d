namespace Keystone.Data.Caching;

/// <summary>
/// One semantic-cache answer: served again to a later request of the same tenant whose context (everything but
/// the last user message) is identical and whose last user message is close enough in meaning. The tenant is in
/// the context key and in the row (filtered and, on PostgreSQL, under row-level security): never shared across
/// tenants.
/// </summary>
public sealed class SemanticCacheEntry : ITenantOwned
{
    public long Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>
    /// Lower-case hex SHA-256 of the tenant, alias, every message but the last, tools, response format, sampling
    /// parameters, prompt version and the embedding model: only entries with the same key are compared.
    /// </summary>
    public string ContextKey { get; set; } = "";

    /// <summary>The last user message that was answered (cut to <see cref="QuestionMaxLength"/>).</summary>
    public string Question { get; set; } = "";

    /// <summary>The last user message's embedding (vector on PostgreSQL, float32 bytes on SQLite).</summary>
    public float[] Embedding { get; set; } = [];

    /// <summary>
    /// The model that made <see cref="Embedding"/>, as <c>provider/model</c> (<c>local/all-MiniLM-L6-v2</c>): vectors of
    /// different models are never compared (it is in the context key too, and PostgreSQL's lookup filters on it).
    /// Empty for entries stored before it was kept.
    /// </summary>
    public string EmbeddingModel { get; set; } = "";

    public string Alias { get; set; } = "";

    public string? Provider { get; set; }

    public string? Model { get; set; }

    /// <summary>The answer (text, finish reason, usage). JSON.</summary>
    public string ResponseJson { get; set; } = "";

    /// <summary>What the original call cost: a hit records it as saved.</summary>
    public long CostMicros { get; set; }

    /// <summary>The call that answered: a hit's call points to it, so its trace shows the question it matched.</summary>
    public Guid? SourceCallId { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime ExpiresUtc { get; set; }

    public const int QuestionMaxLength = 2000;

    public const int EmbeddingModelMaxLength = 192;

    /// <summary>
    /// The embedding lengths PostgreSQL keeps an HNSW index for (one partial index per length, over the column cast to
    /// <c>vector(n)</c>: HNSW needs a fixed dimension): all-MiniLM-L6-v2 and bge-small (384), nomic-embed-text and
    /// bge-base (768), bge-large and mxbai-embed-large (1024), text-embedding-3-small and ada-002 (1536). Other lengths
    /// are compared exactly (decision 0036).
    /// </summary>
    public static readonly IReadOnlyList<int> IndexedDimensions = [384, 768, 1024, 1536];

    /// <summary>The name of the HNSW index for vectors of <paramref name="dimensions"/> (PostgreSQL).</summary>
    public static string HnswIndexName(int dimensions) => $"ix_semantic_cache_entries_embedding_hnsw_{dimensions}";

}
