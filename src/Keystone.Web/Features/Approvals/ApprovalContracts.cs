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
}

/// <summary>Registered by a requesting feature for its <see cref="SourceKind"/>; called once per decision, after the
/// decision is committed (approve, reject, or expiry by the job).</summary>
internal interface IApprovalDecisionHandler
{
    string SourceKind { get; }

    Task OnDecidedAsync(ApprovalDecision decision, CancellationToken cancellationToken);
}
