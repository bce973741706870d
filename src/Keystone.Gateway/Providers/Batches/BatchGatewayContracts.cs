namespace Keystone.Gateway;

/// <summary>One request of a batch: its id inside the batch and the chat request (its <see cref="ChatRequest.Model"/> is ignored: the batch names one model).</summary>
/// <param name="CustomId">Unique within the batch (letters, digits, <c>-</c> and <c>_</c>, up to 64).</param>
/// <param name="Request">The request.</param>
public sealed record BatchRequestLine(string CustomId, ChatRequest Request);

/// <summary>One line of a submitted batch: its call (and trace) id and what is held for it on the caps.</summary>
/// <param name="CustomId">Its id inside the batch.</param>
/// <param name="CallId">The call id its result is recorded and settled under.</param>
/// <param name="TraceId">The trace it is recorded in.</param>
/// <param name="ReservedMicros">Its hold: the prompt plus max tokens at the batch price.</param>
public sealed record BatchTicketLine(string CustomId, Guid CallId, Guid TraceId, long ReservedMicros);

/// <summary>A cap a batch's lines are held on, with the period the hold counts in.</summary>
public sealed record BatchTicketCap(Guid BudgetId, BudgetScope Scope, string Key, BudgetPeriod Period, long LimitMicros, DateTime PeriodStartUtc);

/// <summary>
/// What the caller keeps to follow a submitted batch (it serializes as JSON and survives restarts): the provider's batch
/// id, the model, the tenant and each line's hold. Its holds stay on the caps until <see cref="IBatchGateway.FinishAsync"/>
/// settles them (or the ledger's hold lifetime passes).
/// </summary>
public sealed record BatchTicket
{
    public required Guid TenantId { get; init; }

    /// <summary>The configured provider name.</summary>
    public required string Provider { get; init; }

    /// <summary>The provider model every line is asked of.</summary>
    public required string Model { get; init; }

    /// <summary>The alias (or <c>provider/model</c>) the caller asked for.</summary>
    public required string Alias { get; init; }

    /// <summary>The provider's batch id.</summary>
    public required string BatchId { get; init; }

    public required DateTime SubmittedUtc { get; init; }

    /// <summary>Whose key pays: the platform's, or the tenant's own (BYOK).</summary>
    public required Keystone.Data.Calls.BilledTo BilledTo { get; init; }

    public required IReadOnlyList<BatchTicketLine> Lines { get; init; }

    public required IReadOnlyList<BatchTicketCap> Caps { get; init; }

    /// <summary>Everything held for the batch, micro-USD.</summary>
    public long ReservedMicros => Lines.Sum(l => l.ReservedMicros);
}

/// <summary>A batch's progress as the provider reports it.</summary>
/// <param name="Status">The provider's status (<c>validating</c>, <c>in_progress</c>, <c>finalizing</c>, <c>completed</c>, <c>failed</c>, <c>expired</c>, <c>cancelling</c>, <c>cancelled</c>).</param>
/// <param name="Total">Requests in the batch.</param>
/// <param name="Completed">Answered so far.</param>
/// <param name="Failed">Failed so far.</param>
/// <param name="IsTerminal">The provider will change it no more: <see cref="IBatchGateway.FinishAsync"/> can settle it.</param>
/// <param name="Error">Why the whole batch failed, or why the provider does not know it any more.</param>
public sealed record BatchProgress(string Status, int Total, int Completed, int Failed, bool IsTerminal, string? Error = null);

/// <summary>A line's end: the answer (as a live call's result, its cost at the batch price), or why there is none.</summary>
/// <param name="CustomId">Its id inside the batch.</param>
/// <param name="Result">The answer, recorded and settled; null when the line got none.</param>
/// <param name="Error">Why there is no answer (the provider's error, expired, cancelled).</param>
/// <param name="TraceId">The trace the line was recorded in (with or without an answer).</param>
public sealed record BatchLineOutcome(string CustomId, ChatResult? Result, string? Error, Guid? TraceId = null);

/// <summary>The worst case of a set of requests on a model, live and in a batch, micro-USD.</summary>
/// <param name="LiveMicros">Every prompt plus max tokens at the live price.</param>
/// <param name="BatchMicros">The same at the batch price; null when the model's provider has no batch interface.</param>
/// <param name="BatchRefusal">Why batch mode is not offered for the model, when it is not.</param>
public sealed record BatchEstimate(long LiveMicros, long? BatchMicros, string? BatchRefusal);

/// <summary>The gateway's error codes of batch mode.</summary>
public static class BatchErrorCodes
{
    /// <summary>The model's provider has no batch interface (only OpenAI-kind and the simulated provider have one here).</summary>
    public const string NotSupported = "batch_not_supported";

    /// <summary>A line that got no answer because its batch expired before the provider reached it.</summary>
    public const string Expired = "batch_expired";

    /// <summary>A line that failed inside its batch.</summary>
    public const string LineFailed = "batch_line_failed";

    /// <summary>The prefix of a batch line's <c>request_id</c> in <c>llm_calls</c>: the marker that the call was made in a batch.</summary>
    public const string RequestIdPrefix = "batch:";
}

/// <summary>
/// Batch mode (the OpenAI Batch API's flow, docs/decisions/0049-eval-batch-mode.md): the whole batch's worst case is held
/// on the caps at submission (or nothing is submitted), each line is settled at the batch price and recorded as a call when
/// the results arrive, and the unused holds are released.
/// </summary>
public interface IBatchGateway
{
    /// <summary>The worst case of the requests on <paramref name="model"/>, live and at the batch price (for the start form).</summary>
    Task<BatchEstimate> EstimateAsync(CallContext context, string model, IReadOnlyList<ChatRequest> requests, CancellationToken ct);

    /// <summary>
    /// Holds every line's worst case at the batch price on every cap (all or nothing) and submits the batch to the model's
    /// first target. Throws <see cref="GatewayException"/> (budget_exceeded, batch_not_supported, ...) with nothing
    /// submitted and nothing held.
    /// </summary>
    Task<BatchTicket> SubmitAsync(CallContext context, string model, IReadOnlyList<BatchRequestLine> lines, CancellationToken ct);

    /// <summary>The batch's progress at the provider.</summary>
    Task<BatchProgress> PollAsync(BatchTicket ticket, CancellationToken ct);

    /// <summary>Asks the provider to cancel the batch.</summary>
    Task<BatchProgress> CancelAsync(BatchTicket ticket, CancellationToken ct);

    /// <summary>
    /// Holds the given lines again after a restart where holds lived in the stopped process's memory (nothing to do where
    /// they live in the database), so the money the provider is spending stays counted while the batch runs.
    /// </summary>
    Task RestoreHoldsAsync(BatchTicket ticket, IReadOnlyCollection<string> pendingCustomIds, CancellationToken ct);

    /// <summary>
    /// Settles the lines of a terminal batch (<paramref name="pendingCustomIds"/>; the others were settled before): each
    /// answered line at the batch price, recorded as a call of <paramref name="context"/> (request id <c>batch:…</c>) with its
    /// request from <paramref name="requests"/>; a line without an answer releases its hold and is recorded with its error.
    /// When the provider no longer knows the batch (<paramref name="progress"/> has an error), every pending line is released.
    /// </summary>
    Task<IReadOnlyList<BatchLineOutcome>> FinishAsync(BatchTicket ticket, BatchProgress progress, CallContext context,
        IReadOnlyDictionary<string, ChatRequest> requests, IReadOnlyCollection<string> pendingCustomIds, CancellationToken ct);
}
