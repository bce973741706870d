using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Knowledge;

/// <summary>Knowledge ingestion, embedding and retrieval (<c>Knowledge:*</c>).</summary>
internal sealed class KnowledgeOptions
{
    public const string SectionName = "Knowledge";

    /// <summary>Largest file accepted, in bytes. Default 10 MB.</summary>
    [Range(1_024, 100 * 1024 * 1024)]
    public long MaxFileBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>Most files in one upload. Default 20.</summary>
    [Range(1, 200)]
    public int MaxFilesPerUpload { get; set; } = 20;

    /// <summary>Most documents one tenant may hold. Default 1,000.</summary>
    [Range(1, 1_000_000)]
    public int MaxDocumentsPerTenant { get; set; } = 1_000;

    /// <summary>Target chunk size in tokens (the gateway's o200k tokenizer), header included. Default 500.</summary>
    [Range(64, 4_000)]
    public int ChunkTokens { get; set; } = 500;

    /// <summary>Tokens of whole sentences repeated at the start of the next chunk of a section. Default 50.</summary>
    [Range(0, 1_000)]
    public int OverlapTokens { get; set; } = 50;

    /// <summary>The embedding alias (or <c>provider/model</c>) chunks and queries are embedded with. Default <c>embed</c>.</summary>
    [Required, MinLength(1)]
    public string EmbeddingAlias { get; set; } = "embed";

    /// <summary>Chunks per embedding call of the job. Default 32.</summary>
    [Range(1, 512)]
    public int BatchSize { get; set; } = 32;

    /// <summary>Batches one job run takes before it leaves the rest to the next run. Default 50.</summary>
    [Range(1, 10_000)]
    public int MaxBatchesPerRun { get; set; } = 50;

    /// <summary>Tries of one chunk before it is marked failed. Default 6.</summary>
    [Range(1, 50)]
    public int MaxAttempts { get; set; } = 6;

    /// <summary>Wait after the first failed try, in seconds; doubled after each further one (capped at an hour). Default 15.</summary>
    [Range(1, 3_600)]
    public int RetryBaseSeconds { get; set; } = 15;

    /// <summary>How long a job run holds the rows it took: a run killed mid-batch frees them after this. Default 300.</summary>
    [Range(10, 86_400)]
    public int LeaseSeconds { get; set; } = 300;

    /// <summary>
    /// True pauses the background embedding runs (scheduled and after uploads): uploads are still stored and queued,
    /// nothing is embedded or charged until it is false again. Default false.
    /// </summary>
    public bool PauseEmbedding { get; set; }

    /// <summary>Most chunks a retrieval returns. Default 20.</summary>
    [Range(1, 100)]
    public int MaxTopK { get; set; } = 20;
}
