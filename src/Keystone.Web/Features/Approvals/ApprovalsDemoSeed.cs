using Keystone.Data.Identity;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.Identity;

namespace Keystone.Web.Features.Approvals;

/// <summary>
/// One pending action in the demo, so <c>/approvals</c> and the menu's count show what lands there before any agent
/// has run: Acme's support agent asks to email a customer a refund confirmation for Max (member), which Acme's admin
/// decides. Idempotent: the request is keyed by a fixed source and step, so a restart finds the same action (decided
/// or expired ones stay so).
/// </summary>
internal sealed class ApprovalsDemoSeed(IApprovalService approvals, UserManager<KeystoneUser> users, TimeProvider clock) : IDemoSeedStep
{
    /// <summary>The demo action's source: no requester handles it (a decision is stored and audited, and handed to nobody).</summary>
    public const string SourceKind = "demo";

    public static readonly Guid SourceId = Guid.Parse("a0000000-0000-4000-8000-00000000de30");

    public int Order => 60;

    public async Task RunAsync(CancellationToken ct)
    {
        if (await users.FindByEmailAsync("member@acme.demo") is not { } member)
        {
            return;
        }

        await approvals.RequestAsync(new PendingActionRequest(
            DemoData.AcmeId, SourceKind, SourceId, "refund-email", "send_email",
            """{"to":"jordan@customer.example","subject":"Your refund is on its way","body":"Hi Jordan, we have refunded order 4417 ($49.00). It reaches your card in 3-5 days."}""",
            "Jordan asked in chat whether the refund for order 4417 went through. The order shows a completed refund, so a short confirmation by **email** answers the question.",
            member.Id, Roles.TenantAdmin, InputEditable: true, AmountMicroUsd: null,
            clock.GetUtcNow().AddDays(7), "Email jordan@customer.example that the refund for order 4417 is on its way"), ct);
    }
}
