namespace Keystone.Data.Calls;

/// <summary>
/// SQLite: the payloads of up to <see cref="TracePack.MaxSlots"/> traces of one tenant, recorded in one batch, compressed
/// together (issue 26, docs/decisions: trace payloads packed per batch). A realistic call repeats the same system prompt;
/// compressed row by row it was compressed again in every trace, packed it is compressed once per pack. Each trace row
/// points at (<see cref="LlmTrace.PackId"/>, <see cref="LlmTrace.PackSlot"/>); <see cref="TracePayloads"/> reads either form.
/// The redacted payloads and the raw (unredacted) ones are separate blobs, so raw retention drops the raw blob without
/// touching the redacted one. Deleted whole by retention once its newest trace is past redacted retention.
/// </summary>
public sealed class LlmTracePack : ITenantOwned
{
    /// <summary>AUTOINCREMENT: a pack id is never reused, so a trace row can never point at another batch's pack.</summary>
    public long Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The oldest trace's creation time (raw retention drops the raw blob once this is past it: never late).</summary>
    public DateTime FirstCreatedUtc { get; set; }

    /// <summary>The newest trace's creation time (the pack is deleted once this is past redacted retention).</summary>
    public DateTime LastCreatedUtc { get; set; }

    /// <summary>Traces in the pack.</summary>
    public int Count { get; set; }

    /// <summary>The redacted request, answer and attempts of every slot (<see cref="TracePack"/>'s format, compressed).</summary>
    public byte[] Payloads { get; set; } = [];

    /// <summary>The unredacted request and answer of the slots redaction changed; null when none did or raw retention dropped it.</summary>
    public byte[]? RawPayloads { get; set; }

    /// <summary>Slots with a raw payload (what raw retention reports as purged).</summary>
    public int RawCount { get; set; }

    /// <summary>When raw retention dropped <see cref="RawPayloads"/>.</summary>
    public DateTime? RawPurgedUtc { get; set; }
}
