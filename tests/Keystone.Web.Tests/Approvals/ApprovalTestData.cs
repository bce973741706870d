using System.Collections.Concurrent;
using Keystone.Data.Identity;
using Keystone.Web.Features.Approvals;

namespace Keystone.Web.Tests.Approvals;

/// <summary>Requests, actors and a recording handler for the approvals tests.</summary>
internal static class ApprovalTestData
{
    public const string Kind = "test_run";

    public static PendingActionRequest Request(Guid tenantId, DateTime now, string step = "step-1", Guid? sourceId = null, bool editable = true,
        string approverRole = Roles.TenantAdmin, string onBehalfOf = "member-1", TimeSpan? expiresIn = null, long? amount = 2_500_000)
        => new(tenantId, Kind, sourceId ?? Guid.NewGuid(), step, "send_email", """{"to":"customer@example.com","subject":"Your refund","body":"Hello"}""",
            "The customer asked for a **refund** confirmation.", onBehalfOf, approverRole, editable, amount,
            new DateTimeOffset(now + (expiresIn ?? TimeSpan.FromHours(1))), "Send an email to customer@example.com");

    public static ApprovalActor Admin(string id = "admin-1") => new(ApprovalActor.UserType, id, id + "@acme.test", Roles.TenantAdmin, false);

    public static ApprovalActor Member(string id = "member-1") => new(ApprovalActor.UserType, id, id + "@acme.test", Roles.TenantMember, false);

    public static ApprovalActor PlatformAdmin() => new(ApprovalActor.UserType, "founder-1", "founder@keystone.test", null, true);
}

/// <summary>A requester's handler that records every decision it hears and can be told to fail.</summary>
internal sealed class RecordingHandler : IApprovalDecisionHandler
{
    public string SourceKind => ApprovalTestData.Kind;

    public ConcurrentQueue<ApprovalDecision> Heard { get; } = new();

    /// <summary>How many of the next calls throw.</summary>
    public int FailNext { get; set; }

    /// <summary>Awaited before each decision is taken (a hand-over still under way while it waits).</summary>
    public Func<ApprovalDecision, Task>? Before { get; set; }

    public async Task OnDecidedAsync(ApprovalDecision decision, CancellationToken cancellationToken)
    {
        if (Before is { } before)
        {
            await before(decision);
        }

        Heard.Enqueue(decision);
        if (FailNext > 0)
        {
            FailNext--;
            throw new InvalidOperationException("the run is not paused any more");
        }
    }
}

/// <summary>A handler for another source kind: must never hear this kind's decisions.</summary>
internal sealed class OtherKindHandler : IApprovalDecisionHandler
{
    public string SourceKind => "other_kind";

    public int Calls { get; private set; }

    public Task OnDecidedAsync(ApprovalDecision decision, CancellationToken cancellationToken)
    {
        Calls++;
        return Task.CompletedTask;
    }
}
