using System.Numerics.Tensors;

namespace Keystone.Data.Vectors;

/// <summary>The tables whose vectors <see cref="VectorSearch"/> searches.</summary>
public enum VectorTable
{
    /// <summary><c>semantic_cache_entries</c>: one context's live entries (<see cref="VectorQuery.ContextKey"/>, <see cref="VectorQuery.LiveAt"/>).</summary>
    SemanticCache,

    /// <summary><c>knowledge_embeddings</c>: one tenant's chunk vectors of one model, optionally of some documents only.</summary>
    Knowledge,
}

/// <summary>
/// One nearest-neighbour search: the tenant's rows of <paramref name="Table"/> embedded by <paramref name="Model"/>
/// (<c>provider/model</c>), the <paramref name="Limit"/> closest to <paramref name="Vector"/> by cosine similarity.
/// </summary>
public sealed record VectorQuery(VectorTable Table, Guid TenantId, string Model, float[] Vector, int Limit)
{
    /// <summary>The semantic cache's context key (required for <see cref="VectorTable.SemanticCache"/>).</summary>
    public string? ContextKey { get; init; }

    /// <summary>Only rows that have not expired at this instant (the semantic cache).</summary>
    public DateTime? LiveAt { get; init; }

    /// <summary>Only rows of these documents (knowledge); null: every document. An empty set matches nothing.</summary>
    public IReadOnlyCollection<Guid>? Documents { get; init; }
}

/// <summary>
/// A row found: <see cref="RowId"/> is the semantic cache entry's id, <see cref="ChunkId"/> the knowledge chunk's id
/// (<see cref="Guid.Empty"/> for the cache); <see cref="Similarity"/> is the cosine similarity, −1 … 1.
/// </summary>
public readonly record struct VectorMatch(long RowId, Guid ChunkId, double Similarity);

/// <summary>
/// The semantic cache's closest live entry: its id and similarity, and — when the search read the row's answer in the
/// same query — <see cref="Answer"/>; null there means the caller reads the answer by id (and for an entry below the
/// threshold it is never read).
/// </summary>
public sealed record CacheEntryMatch(long RowId, double Similarity, CacheEntryAnswer? Answer);

/// <summary>What a semantic cache entry answers with: the stored response, its cost, the call that gave it and which model.</summary>
public sealed record CacheEntryAnswer(string ResponseJson, long CostMicros, Guid? SourceCallId, string? Provider, string? Model);

/// <summary>
/// The one vector search of the product, shared by the semantic cache (gateway) and knowledge retrieval (web), one
/// implementation per database mode (decision 0044): PostgreSQL orders by pgvector's cosine distance through the HNSW
/// index of the vector's dimension, under forced row-level security; SQLite keeps each tenant's vectors of a context
/// or model in memory as one contiguous, normalized float array, kept in step with the table, and scans it with SIMD
/// (<see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>). Every search is of one tenant: the
/// tenant is part of the in-memory key on SQLite and of the query and the connection's RLS setting on PostgreSQL.
/// </summary>
public abstract class VectorSearch
{
    /// <summary>The matches best first (at most <see cref="VectorQuery.Limit"/>); never rows of another tenant.</summary>
    public abstract Task<IReadOnlyList<VectorMatch>> NearestAsync(VectorQuery query, CancellationToken ct);

    /// <summary>
    /// The semantic cache's one closest live entry of <paramref name="query"/> (a <see cref="VectorTable.SemanticCache"/>
    /// search), or null. A mode whose search runs in the database reads the winner's answer in the same query when its
    /// similarity reaches <paramref name="threshold"/> (PostgreSQL: one round trip, one snapshot, so never an entry deleted
    /// meanwhile); by default only the id and similarity come back and the caller reads the answer by id.
    /// </summary>
    public virtual async Task<CacheEntryMatch?> NearestCacheEntryAsync(VectorQuery query, double threshold, CancellationToken ct)
        => await NearestAsync(query with { Limit = 1 }, ct) is [var best] ? new CacheEntryMatch(best.RowId, best.Similarity, null) : null;

    /// <summary>
    /// Tells the search that rows of the tenant's <paramref name="table"/> were deleted or replaced by this process
    /// (a document deleted or changed). The SQLite mode drops what it holds in memory for the tenant; PostgreSQL reads
    /// the table every time and has nothing to drop.
    /// </summary>
    public virtual void Changed(VectorTable table, Guid tenantId)
    {
    }

    /// <summary>
    /// Cosine similarity, vectorized (SIMD through <see cref="TensorPrimitives"/>); 0 for vectors of different or zero
    /// length and for a zero vector (never a match).
    /// </summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length || a.Length == 0)
        {
            return 0;
        }

        var similarity = TensorPrimitives.CosineSimilarity(a, b);
        return float.IsNaN(similarity) ? 0 : similarity;
    }

    /// <summary>
    /// <paramref name="vector"/> scaled to length 1 into <paramref name="into"/> (zeros for a zero vector), so that the
    /// dot product of two normalized vectors is their cosine: one SIMD pass per row instead of three.
    /// </summary>
    internal static void Normalize(ReadOnlySpan<float> vector, Span<float> into)
    {
        var norm = TensorPrimitives.Norm(vector);
        if (norm is 0 or float.NaN || float.IsInfinity(norm))
        {
            into[..vector.Length].Clear();
            return;
        }

        TensorPrimitives.Divide(vector, norm, into);
    }
}
