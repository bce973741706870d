using System.Security.Claims;
using Keystone.Data.Identity;
using Keystone.Web.Platform;

namespace Keystone.Web.Features.Approvals;

/// <summary>What the inbox shows one person.</summary>
/// <param name="Waiting">Pending actions they may approve.</param>
/// <param name="Mine">Pending actions done on their behalf (they may withdraw them).</param>
/// <param name="History">Decided actions: every one of the tenant for its admins, the person's own for members.</param>
internal sealed record InboxContent(IReadOnlyList<PendingActionView> Waiting, IReadOnlyList<PendingActionView> Mine, IReadOnlyList<PendingActionView> History);

/// <summary>The signed-in person's view of the approvals of the tenant in scope (the inbox page and the badge).</summary>
internal sealed class ApprovalInbox(ApprovalService approvals, TenantContext tenant)
{
    /// <summary>The tenant in scope, or null (platform staff who have not switched into a tenant).</summary>
    public Guid? TenantId => tenant.TenantId;

    /// <summary>The person deciding.</summary>
    public ApprovalActor Actor => ActorOf(tenant.User);

    /// <summary>
    /// A console user or an <c>admin</c> API key as a decider. A key decides as the tenant's admin: only admin keys
    /// reach <c>/api/v1/approvals</c>.
    /// </summary>
    public static ApprovalActor ActorOf(ClaimsPrincipal user)
    {
        if (user.FindFirstValue(KeystoneClaims.ApiKeyId) is { } keyId)
        {
            return new ApprovalActor(ApprovalActor.ApiKeyType, keyId, "API key " + user.Identity?.Name, Roles.TenantAdmin, false);
        }

        var role = user.IsInRole(Roles.TenantAdmin) ? Roles.TenantAdmin : user.IsInRole(Roles.TenantMember) ? Roles.TenantMember : null;
        return new ApprovalActor(ApprovalActor.UserType, user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "anonymous",
            user.FindFirstValue(ClaimTypes.Email) ?? user.Identity?.Name, role, user.IsInRole(Roles.PlatformAdmin));
    }

    /// <summary>Whether the person may approve some actions (members: those any member may decide).</summary>
    public bool MayApproveAny => ApprovalService.MayApprove(Actor, Roles.TenantMember);

    public async Task<InboxContent> LoadAsync(CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var actor = Actor;
        var pending = await approvals.PendingAsync(tenantId, ct);
        var seesAll = ApprovalService.MayApprove(actor, Roles.TenantAdmin);
        var history = await approvals.HistoryAsync(tenantId, seesAll ? null : actor.Id, ct);
        return new InboxContent(
            [.. pending.Where(p => ApprovalService.MayApprove(actor, p.ApproverRole))],
            [.. pending.Where(p => p.OnBehalfOfUserId == actor.Id)],
            history);
    }

    public Task<int> CountWaitingAsync(CancellationToken ct)
        => TenantId is { } tenantId ? approvals.CountWaitingAsync(tenantId, Actor, ct) : Task.FromResult(0);

    public Task<PendingActionView> DecideAsync(Guid actionId, ApprovalVerdict verdict, string? editedInputJson, string? comment, CancellationToken ct)
        => approvals.DecideAsync(RequireTenant(), actionId, verdict, editedInputJson, comment, Actor, ct);

    private Guid RequireTenant() => TenantId ?? throw new InvalidOperationException("Approvals belong to one tenant: switch into a tenant first.");
}
