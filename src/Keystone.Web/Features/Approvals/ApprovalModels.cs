using System.Diagnostics.CodeAnalysis;
using Keystone.Data.Approvals;

namespace Keystone.Web.Features.Approvals;

/// <summary>What a decider chose.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of a [Parameter] (PendingActionCard.OnDecide): Razor components are public and Blazor parameters must be public properties.")]
public enum ApprovalVerdict
{
    Approve,
    Reject,
}

/// <summary>
/// Who decides: a console user (with their tenant role) or an <c>admin</c> API key of the tenant (a tenant's own
/// product approving for its people). <see cref="Id"/> is the user id or <c>api_key:&lt;id&gt;</c>.
/// </summary>
/// <param name="TenantRole"><c>TenantAdmin</c>, <c>TenantMember</c> or null (platform staff, who hold no tenant role).</param>
/// <param name="IsPlatformAdmin">Platform admins decide like a tenant's admin in the tenant they switched into.</param>
internal sealed record ApprovalActor(string Type, string Id, string? Name, string? TenantRole, bool IsPlatformAdmin)
{
    public const string UserType = "user";
    public const string ApiKeyType = "api_key";
    public const string SystemType = "system";
}

/// <summary>A pending or decided action as the inbox and the API show it.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (PendingActionCard.Action): Razor components are public and Blazor parameters must be public properties.")]
public sealed record PendingActionView(
    Guid Id,
    Guid TenantId,
    string Tool,
    string InputJson,
    string? EditedInputJson,
    string? Rationale,
    string Summary,
    long? AmountMicros,
    string OnBehalfOfUserId,
    string? OnBehalfOfName,
    string ApproverRole,
    bool InputEditable,
    string SourceKind,
    Guid SourceId,
    string SourceStepKey,
    string Status,
    string? DecidedById,
    string? DecidedByName,
    string? Comment,
    DateTime CreatedUtc,
    DateTime ExpiresUtc,
    DateTime? DecidedUtc,
    DateTime? HandledUtc,
    int HandlerAttempts,
    string? HandlerError)
{
    public bool IsPending => Status == PendingActionStatus.Pending;

    /// <summary>The input the requester runs: the approver's edit, or the original.</summary>
    public string FinalInputJson => EditedInputJson ?? InputJson;
}

/// <summary>A refused decision, in words for the page and with the API's status and code.</summary>
internal sealed class ApprovalException(int status, string code, string message, string? field = null) : Exception(message)
{
    public const string NotFoundCode = "not_found";
    public const string AlreadyDecidedCode = "already_decided";
    public const string ExpiredCode = "approval_expired";
    public const string CancelledCode = "action_cancelled";
    public const string NotApproverCode = "not_approver";
    public const string InvalidCode = Keystone.Gateway.GatewayErrorCodes.InvalidRequest;

    public int Status { get; } = status;

    public string Code { get; } = code;

    /// <summary>The input at fault (<c>input</c>, <c>comment</c>), for a 400.</summary>
    public string? Field { get; } = field;

    public static ApprovalException NotFound() => new(404, NotFoundCode, "No pending action with that id in this tenant.");

    public static ApprovalException NotApprover(string approverRole) => new(403, NotApproverCode,
        approverRole == Keystone.Data.Identity.Roles.TenantAdmin
            ? "Only a tenant admin may decide this action."
            : "Only a member of this tenant may decide this action.");

    public static ApprovalException Invalid(string field, string message) => new(400, InvalidCode, message, field);
}
