namespace Keystone.Data.Calls;

/// <summary>
/// The heavy payload of a call, retention-managed: the raw request and response are kept for a few days,
/// the redacted ones longer; the call row (costs) outlives both.
/// </summary>
public sealed class LlmTrace : ITenantOwned
{
    /// <summary>Same as the <see cref="LlmCall.Id"/> it belongs to.</summary>
    public Guid CallId { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The normalized request (messages, tools, parameters) with PII redacted. JSON.</summary>
    public string? RequestJson { get; set; }

    /// <summary>The answer (text, tool calls, finish reason) with PII redacted. JSON.</summary>
    public string? ResponseJson { get; set; }

    /// <summary>Unredacted request, until raw retention ends. JSON.</summary>
    public string? RawRequestJson { get; set; }

    /// <summary>Unredacted answer, until raw retention ends. JSON.</summary>
    public string? RawResponseJson { get; set; }

    /// <summary>Every provider attempt with its target, outcome, error and duration. JSON array.</summary>
    public string? AttemptsJson { get; set; }

    /// <summary>Redacted plain text of prompts and answer, indexed for full-text search.</summary>
    public string? SearchText { get; set; }

    /// <summary>Number of values redacted.</summary>
    public int RedactionCount { get; set; }

    public DateTime CreatedUtc { get; set; }

    /// <summary>When the raw payload was dropped by retention.</summary>
    public DateTime? RawPurgedUtc { get; set; }

    /// <summary>
    /// SQLite, the call recorder's traces: the <see cref="LlmTracePack"/> holding this trace's payloads (the five payload
    /// columns are then NULL); null for a trace whose payloads are in its own row (written before packing, by EF Core, or on
    /// PostgreSQL). Read through <see cref="TracePayloads"/>, which takes either form.
    /// </summary>
    public long? PackId { get; set; }

    /// <summary>The trace's place in its pack (with <see cref="PackId"/>).</summary>
    public int? PackSlot { get; set; }
}
