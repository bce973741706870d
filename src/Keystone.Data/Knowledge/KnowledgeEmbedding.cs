namespace Keystone.Data.Knowledge;

/// <summary>
/// A chunk's vector from one embedding model. The key is (chunk, model), so a chunk holds at most one vector per
/// model whatever number of job runs raced to embed it; retrieval reads only the live model's rows, so models never
/// mix in one ranking.
/// </summary>
public sealed class KnowledgeEmbedding : ITenantOwned
{
    public const int ModelMaxLength = 200;

    public Guid ChunkId { get; set; }

    /// <summary><c>provider/model</c> that produced the vector (as the gateway reported it).</summary>
    public string Model { get; set; } = "";

    public Guid TenantId { get; set; }

    public Guid DocumentId { get; set; }

    public int Dimensions { get; set; }

    /// <summary>The vector (pgvector on PostgreSQL, float32 bytes on SQLite).</summary>
    public float[] Vector { get; set; } = [];

    public DateTime CreatedUtc { get; set; }
}
