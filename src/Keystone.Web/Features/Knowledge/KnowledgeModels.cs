namespace Keystone.Web.Features.Knowledge;

/// <summary>One file of an upload.</summary>
/// <param name="DeclaredSize">The size the client declared, when the bytes were not read because it is over the limit.</param>
internal sealed record KnowledgeUpload(string Name, byte[] Bytes, long? DeclaredSize = null)
{
    public long Size => DeclaredSize ?? Bytes.LongLength;
}

/// <summary>What became of one uploaded file: <c>created</c>, <c>updated</c>, <c>unchanged</c> or <c>failed</c> (with its reason).</summary>
internal sealed record KnowledgeUploadResult(string Name, string Status, Guid? DocumentId, int Chunks, int ChunksToEmbed, string? Code, string? Error)
{
    public bool Failed => Status == "failed";
}

/// <summary>A document with its embedding progress for the live model.</summary>
internal sealed record KnowledgeDocumentRow(
    Guid Id,
    string Name,
    string Title,
    string Kind,
    IReadOnlyList<string> Tags,
    long SizeBytes,
    int Chunks,
    int Embedded,
    int Failed,
    string? LastError,
    DateTime CreatedUtc,
    DateTime UpdatedUtc)
{
    /// <summary><c>ready</c> (every chunk embedded), <c>failed</c> (some chunks gave up), or <c>embedding</c>.</summary>
    public string Status => Embedded >= Chunks ? "ready" : Failed > 0 && Embedded + Failed >= Chunks ? "failed" : "embedding";
}

/// <summary>A retrieval: the question, how many chunks, and optional filters (documents, one tag).</summary>
internal sealed record RetrievalQuery(string Query, int K, IReadOnlyList<Guid>? DocumentIds = null, string? Tag = null);

/// <summary>Narrows both searches to some documents or a tag.</summary>
internal sealed record RetrievalFilter(IReadOnlyList<Guid>? DocumentIds, string? Tag);

/// <summary>One cited chunk: where it is from (document, section, chunk) and its fused score (reciprocal rank fusion).</summary>
internal sealed record RetrievalHit(
    Guid DocumentId,
    string DocumentName,
    string DocumentTitle,
    string Section,
    Guid ChunkId,
    int Position,
    string Header,
    string Text,
    double Score,
    int? TextRank,
    int? VectorRank);

/// <summary>The hits, and the embedding model the vector side used (null when it had none).</summary>
internal sealed record RetrievalResult(IReadOnlyList<RetrievalHit> Hits, string? EmbeddingModel);

/// <summary>A request-level refusal (too many files, a bad query): the field and the reason in plain words.</summary>
internal sealed class KnowledgeRequestException(string param, string message) : Exception(message)
{
    public string Param { get; } = param;
}
