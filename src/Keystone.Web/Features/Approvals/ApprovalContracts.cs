using Keystone.Data;

namespace Keystone.Web.Features.Approvals;

// The seam between features that need a person's approval before they act (agents today) and the approvals
// feature that stores, shows and decides pending actions. A requesting feature never reads the approvals table;
// it asks IApprovalService and is called back through its IApprovalDecisionHandler, so Approvals depends on no
// requester and requesters depend only on this file.

/// <summary>What a requester asks a person to approve.</summary>
/// <param name="SourceKind">Who asked, and which handler resumes it (for example <c>agent_run</c>).</param>
/// <param name="SourceId">The requesting object (for example the agent run).</param>
/// <param name="SourceStepKey">The step inside it; with <paramref name="SourceId"/> it makes the request idempotent.</param>
/// <param name="InputJson">The tool input as the model proposed it.</param>
/// <param name="OnBehalfOfUserId">The member the action is done for.</param>
/// <param name="ApproverRole">The least role that may decide (a tenant role, for example TenantAdmin).</param>
/// <param name="InputEditable">Whether the approver may change the input before approving.</param>
/// <param name="AmountMicroUsd">Money the action would spend, shown to the approver.</param>
/// <param name="Summary">One plain sentence: what will happen if approved.</param>
internal sealed record PendingActionRequest(
    Guid TenantId,
    string SourceKind,
    Guid SourceId,
    string SourceStepKey,
    string Tool,
    string InputJson,
    string? Rationale,
    string OnBehalfOfUserId,
    string ApproverRole,
    bool InputEditable,
    long? AmountMicroUsd,
    DateTimeOffset ExpiresUtc,
    string Summary);

internal enum ApprovalOutcome
{
    Approved,
    Rejected,
    Expired,
}

/// <summary>A decision handed back to the requester. <paramref name="FinalInputJson"/> is the input to execute
/// (the approver's edit, or the original).</summary>
internal sealed record ApprovalDecision(
    Guid ActionId,
    Guid TenantId,
    string SourceKind,
    Guid SourceId,
    string SourceStepKey,
    ApprovalOutcome Outcome,
    string FinalInputJson,
    string? DecidedByUserId,
    string? Comment);

internal interface IApprovalService
{
    /// <summary>Stores a pending action, or returns the existing one for the same source and step.</summary>
    Task<Guid> RequestAsync(PendingActionRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// The requester gave up on <paramref name="sourceId"/> (a cancelled run). In one transaction: its pending actions are
    /// closed as <c>cancelled</c> (audited with <paramref name="by"/>, gone from every inbox at once; a later approve or
    /// reject answers 409 <c>action_cancelled</c>) and <paramref name="endSource"/>, the requester's own write that ends
    /// the source, runs on the same context (its changes are saved with the closing; false rolls everything back).
    /// An approval already being handed over to the requester wins: nothing changes and the answer names who approved,
    /// so an approver and a canceller are never both told they succeeded. Closed actions are never handed over.
    /// </summary>
    Task<SourceCancellation> CancelWithSourceAsync(Guid tenantId, string sourceKind, Guid sourceId, SourceCanceller by,
        Func<KeystoneDbContext, CancellationToken, Task<bool>> endSource, CancellationToken cancellationToken);
}

/// <summary>Who cancelled a source: a console user (<c>user</c>), an API key (<c>api_key</c>) or the system.</summary>
internal sealed record SourceCanceller(string Type, string Id, string? Name);

internal enum SourceCancellationResult
{
    /// <summary>The source was ended and its pending actions (if any) closed with it.</summary>
    Cancelled,

    /// <summary><c>endSource</c> found nothing to end (the source moved on meanwhile): nothing changed.</summary>
    SourceNotEnded,

    /// <summary>An approval of one of its actions is being handed over: nothing changed (<see cref="SourceCancellation.Message"/> says who approved).</summary>
    ApprovalWon,
}

/// <summary>The answer to <see cref="IApprovalService.CancelWithSourceAsync"/>.</summary>
internal sealed record SourceCancellation(SourceCancellationResult Result, int ActionsClosed, string? Message = null);

/// <summary>
/// The approvals' live channel, lent to requesters for their own objects: "source S of tenant T changed" (an agent run
/// wrote events). Raised at once on this instance; with <c>Approvals:ListenAcrossInstances</c> in PostgreSQL mode also
/// on the other instances, over the same NOTIFY / LISTEN connection the inboxes use (no second listener, decision 35).
/// A notice carries ids only: a subscriber re-reads what it shows, so a lost notice is late, never wrong.
/// </summary>
internal interface IApprovalSourceNotices
{
    /// <summary>True when every change anywhere reaches this instance's subscribers (SQLite's one instance, or listening
    /// across PostgreSQL instances); false when other instances' changes arrive only by re-reading.</summary>
    bool ReachesEveryInstance { get; }

    /// <summary>Raised with (tenant, source) on the publisher's or the listener's thread (<see cref="Guid.Empty"/>
    /// source: anything may have changed); a subscriber must not block.</summary>
    event Action<Guid, Guid>? SourceChanged;

    /// <summary>Tells this instance's subscribers now and the other instances soon; never blocks, never throws.</summary>
    void PublishSource(Guid tenantId, Guid sourceId);
}

/// <summary>Registered by a requesting feature for its <see cref="SourceKind"/>; called once per decision, after the
/// decision is committed (approve, reject, or expiry by the job).</summary>
internal interface IApprovalDecisionHandler
{
    string SourceKind { get; }

    Task OnDecidedAsync(ApprovalDecision decision, CancellationToken cancellationToken);
}
