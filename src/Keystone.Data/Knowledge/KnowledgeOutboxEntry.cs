namespace Keystone.Data.Knowledge;

/// <summary>
/// Work for the embedding job: embed one chunk with one model. Written in the transaction that writes the chunk, so
/// a restart loses nothing; the job leases rows (<see cref="LeaseToken"/> until <see cref="LeaseUntilUtc"/>), and a
/// lease that ran out (a killed job) is taken again. Done rows stay as the record of the work.
/// </summary>
public sealed class KnowledgeOutboxEntry : ITenantOwned
{
    public const int ErrorMaxLength = 500;

    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public Guid ChunkId { get; set; }

    public Guid DocumentId { get; set; }

    /// <summary>The live embedding model when the row was written (<c>provider/model</c>).</summary>
    public string Model { get; set; } = "";

    public DateTime CreatedUtc { get; set; }

    /// <summary>Tries so far (a lease counts as a try).</summary>
    public int Attempts { get; set; }

    /// <summary>Not taken before this time (backoff after a failure).</summary>
    public DateTime NextAttemptUtc { get; set; }

    public Guid? LeaseToken { get; set; }

    public DateTime? LeaseUntilUtc { get; set; }

    public DateTime? DoneUtc { get; set; }

    /// <summary>Set when the row gave up after its last try: the chunk is not embedded.</summary>
    public DateTime? FailedUtc { get; set; }

    /// <summary>The last failure in plain words (never a secret).</summary>
    public string? LastError { get; set; }
}
