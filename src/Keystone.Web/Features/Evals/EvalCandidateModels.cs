using Keystone.Data.Evals;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// What the trace store holds of a recorded call, already redacted: the conversation sent (system, user and assistant
/// messages with text), the variables of a managed prompt's call, and the answer. Null <see cref="Answer"/>: none recorded.
/// </summary>
internal sealed record RecordedCallPayload(IReadOnlyList<EvalMessage> Messages, IReadOnlyDictionary<string, string>? Variables, string? Answer);

/// <summary>
/// Reads recorded calls' payloads for the sampler. Declared here and implemented by <c>Features/Traces</c>, which owns the
/// trace store's format (Evals may not depend on Traces: Traces depends on Evals for "save as eval example"). Reads the
/// redacted payload only; a call whose payload retention removed is simply absent from the answer.
/// </summary>
internal interface IRecordedCallPayloads
{
    Task<IReadOnlyDictionary<Guid, RecordedCallPayload>> ReadAsync(IReadOnlyCollection<Guid> callIds, CancellationToken ct);
}

/// <summary>One candidate in the review queue, as the page shows it.</summary>
internal sealed record EvalCandidateRow(
    Guid Id, Guid TenantId, string TenantName, Guid CallId, Guid TraceId, string Feature, string? PromptName, string Alias,
    EvalExampleInput Input, string Answer, EvalCandidateStatus Status, DateTime CallCreatedUtc, DateTime CreatedUtc);

/// <summary>A tenant's sampling rate for one feature, in percent (0-100).</summary>
internal sealed record EvalSamplingRateRow(Guid TenantId, string Feature, double RatePercent, string UpdatedBy, DateTime UpdatedUtc);

/// <summary>What a sampler run did: calls read (with the overlap), candidates queued, the watermark after it.</summary>
internal sealed record EvalSamplerResult(int CallsRead, int Queued, int Skipped, DateTime? WatermarkUtc);

/// <summary>
/// A reviewer's acceptance: the set (of the candidate's tenant; null to use, creating it when missing, that tenant's set of
/// the candidate's feature), the expected answer (default: the recorded answer), the scorers (default: similarity to
/// the expected answer) and notes.
/// </summary>
internal sealed record EvalCandidateAccept(Guid? SetId, string? Expected, IReadOnlyList<EvalExpectation>? Expectations, string? Notes);
