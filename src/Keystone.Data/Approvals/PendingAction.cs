namespace Keystone.Data.Approvals;

/// <summary>
/// An action a requester (an agent run today) may not take until a person with <see cref="ApproverRole"/> in the
/// tenant approves it: the tool, its input, why, for whom, and what was decided. One row per source step
/// (<see cref="SourceKind"/>, <see cref="SourceId"/>, <see cref="SourceStepKey"/>), so a repeated request finds
/// the same action. The decision is one conditional update (pending → decided), so of two deciders exactly one wins.
/// </summary>
public sealed class PendingAction : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The tool that will run (<c>send_email</c>).</summary>
    public string Tool { get; set; } = "";

    /// <summary>The tool input as the requester proposed it (a JSON document).</summary>
    public string InputJson { get; set; } = "";

    /// <summary>The approver's replacement input, when they edited it before approving (a JSON document).</summary>
    public string? EditedInputJson { get; set; }

    /// <summary>Why the requester wants to do it (model text: shown as sanitized markdown).</summary>
    public string? Rationale { get; set; }

    /// <summary>One plain sentence: what happens if approved.</summary>
    public string Summary { get; set; } = "";

    /// <summary>Money the action would spend, in micro-USD, when it spends any.</summary>
    public long? AmountMicros { get; set; }

    /// <summary>The member the action is done for.</summary>
    public string OnBehalfOfUserId { get; set; } = "";

    /// <summary>The least tenant role that may decide (<c>TenantAdmin</c> or <c>TenantMember</c>).</summary>
    public string ApproverRole { get; set; } = "";

    /// <summary>Whether the approver may change the input before approving.</summary>
    public bool InputEditable { get; set; }

    /// <summary>Who asked (<c>agent_run</c>); also which handler hears the decision.</summary>
    public string SourceKind { get; set; } = "";

    public Guid SourceId { get; set; }

    public string SourceStepKey { get; set; } = "";

    /// <summary>One of <see cref="PendingActionStatus"/>.</summary>
    public string Status { get; set; } = PendingActionStatus.Pending;

    /// <summary>The deciding (or, for <see cref="PendingActionStatus.Cancelled"/>, cancelling) user id, or <c>api_key:&lt;id&gt;</c>; null while pending and for expiry.</summary>
    public string? DecidedById { get; set; }

    /// <summary>The decider as people read it (email, key name) at the time of the decision.</summary>
    public string? DecidedByName { get; set; }

    /// <summary>The decider's comment (handed back to the requester with the decision).</summary>
    public string? Comment { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime ExpiresUtc { get; set; }

    public DateTime? DecidedUtc { get; set; }

    /// <summary>When every handler of <see cref="SourceKind"/> took the decision; null while it is still to be handed over.</summary>
    public DateTime? HandledUtc { get; set; }

    /// <summary>How many times the decision was handed to the handlers (the first try included).</summary>
    public int HandlerAttempts { get; set; }

    /// <summary>Why the last hand-over failed (the exception's type and message), shown with the decision.</summary>
    public string? HandlerError { get; set; }

    /// <summary>
    /// Until when one process is handing the decision over (set in the same statement as the decision, then by each
    /// retry's claim), so a retry never runs beside the first try; after it a retry may claim it again.
    /// </summary>
    public DateTime? HandlerLeaseUntilUtc { get; set; }

    public const int ToolMaxLength = 128;
    public const int SummaryMaxLength = 500;
    public const int RationaleMaxLength = 8000;
    public const int CommentMaxLength = 2000;
    public const int InputMaxLength = 64 * 1024;
    public const int SourceKindMaxLength = 64;
    public const int SourceStepKeyMaxLength = 200;
    public const int UserIdMaxLength = 450;
    public const int HandlerErrorMaxLength = 1000;
}

/// <summary>The states of a <see cref="PendingAction"/>; only <see cref="Pending"/> may change, once.</summary>
public static class PendingActionStatus
{
    public const string Pending = "pending";
    public const string Approved = "approved";
    public const string Rejected = "rejected";
    public const string Expired = "expired";

    /// <summary>Closed because its requester gave up (the run that asked was cancelled): nobody may decide it, nothing runs,
    /// and it is not handed over (the requester closed it itself).</summary>
    public const string Cancelled = "cancelled";
}
