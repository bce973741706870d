using System.Globalization;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Agents;

/// <summary>
/// Two people, two browsers (separate contexts) on the real app: Acme's member asks the demo agent in the playground's
/// agent mode to email a customer; the approval arrives live in the admin's open inbox and the menu's count rises; the
/// admin approves; the email lands in the mail sink on <c>/agents</c> and the run finishes in the member's window
/// without a reload; the audit log shows request → approval → send, named and linked to the run. Then the admin rejects
/// a second email and the agent tells the member it was not sent.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class AgentApprovalJourneyTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Member_AsksTheAgentToEmail_AdminApprovesLive_EmailLandsRunFinishes_ThenARejectionIsToldToTheMember()
    {
        var admin = await fixture.SignInAsync("admin@acme.demo");
        await admin.ClickAsync("[data-test=nav-approvals]");
        await admin.WaitForURLAsync("**/approvals");
        await BrowserFixture.WaitForCircuitAsync(admin);
        var badge = admin.Locator("[data-test=nav-approvals] [data-test=approvals-badge]");
        var before = await badge.CountAsync() == 0 ? 0 : int.Parse(await badge.InnerTextAsync(), CultureInfo.InvariantCulture);

        var member = await fixture.SignInAsync("member@acme.demo");
        await member.GotoAsync("/playground");
        await BrowserFixture.WaitForCircuitAsync(member);
        await member.Locator("[data-test=agent-mode]").ClickAsync();
        await Assertions.Expect(member.Locator("[data-test=agent-picker]")).ToContainTextAsync("Customer helper");

        // 1. Approved: the member asks, the admin's open inbox gets the card and the count without a reload.
        var approvalId = await AskAsync(member, "Please tell jo@customer.example that the outage is over. [sim:tool=send_email]");
        await Assertions.Expect(member.Locator("[data-test=agent-approval-who]")).ToContainTextAsync("Waiting for an admin of this tenant to decide");
        var card = admin.Locator($"[data-test=action-{approvalId}]");
        await Assertions.Expect(card).ToContainTextAsync("send_email");
        await Assertions.Expect(badge).ToHaveTextAsync((before + 1).ToString(CultureInfo.InvariantCulture));
        // The field reads "to <address>": the address is its last word.
        var to = (await card.Locator("[data-test=input-field-to]").InnerTextAsync()).Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries)[^1];
        await BrowserFixture.ScreenshotAsync(admin, "agent-journey-admin-inbox");
        await BrowserFixture.ScreenshotAsync(member, "agent-journey-member-waiting");

        await card.Locator("input[data-test=action-comment], [data-test=action-comment] input").First.FillAsync("Fine to send");
        await card.Locator("[data-test=action-approve]").ClickAsync();
        await Assertions.Expect(card).ToHaveCountAsync(0);
        if (before > 0)
        {
            await Assertions.Expect(badge).ToHaveTextAsync(before.ToString(CultureInfo.InvariantCulture));
        }

        // The member's window follows the run to its end: no reload.
        var run = member.Locator("[data-test=agent-run]");
        await Assertions.Expect(run).ToHaveAttributeAsync("data-state", "succeeded", new() { Timeout = 30_000 });
        await Assertions.Expect(member.Locator("[data-test=agent-approval-outcome]")).ToContainTextAsync("Approved");
        await Assertions.Expect(member.Locator("[data-test=agent-tool-result]")).ToHaveAttributeAsync("data-state", "completed");
        await Assertions.Expect(member.Locator("[data-test=agent-answer]")).Not.ToBeEmptyAsync();
        var runId = await run.GetAttributeAsync("data-run");
        await BrowserFixture.ScreenshotAsync(member, "agent-journey-member-done");

        // The email is in the mail sink, shown on the agents page.
        await admin.GotoAsync("/agents");
        await BrowserFixture.WaitForCircuitAsync(admin);
        await Assertions.Expect(admin.Locator("[data-test=mail-sink]")).ToContainTextAsync(to);

        // The audit log holds the chain, named and linked to the run.
        await admin.GotoAsync("/audit");
        await BrowserFixture.WaitForCircuitAsync(admin);
        var rows = admin.Locator("[data-test=audit-table] tr");
        var request = rows.Filter(new() { HasText = "agent.approval.request" }).First;
        var approve = rows.Filter(new() { HasText = "approval.approve" }).First;
        var send = rows.Filter(new() { HasText = "agent.tool.send_email" }).First;
        await Assertions.Expect(request).ToContainTextAsync("Approval of send_email");
        await Assertions.Expect(request).ToContainTextAsync("member@acme.demo");
        await Assertions.Expect(approve).ToContainTextAsync("admin@acme.demo");
        await Assertions.Expect(approve).ToContainTextAsync("member@acme.demo");
        await Assertions.Expect(send).ToContainTextAsync("Run of agent Customer helper");
        await Assertions.Expect(send.Locator("[data-test=audit-target-link]")).ToHaveAttributeAsync("href", $"/agents/runs/{runId}");
        await BrowserFixture.ScreenshotAsync(admin, "agent-journey-audit");

        // 2. Rejected: the agent tells the member the email was not sent.
        await admin.GotoAsync("/approvals");
        await BrowserFixture.WaitForCircuitAsync(admin);
        var secondId = await AskAsync(member, "Email jo@customer.example a 50% discount code. [sim:tool=send_email]");
        var second = admin.Locator($"[data-test=action-{secondId}]");
        await Assertions.Expect(second).ToContainTextAsync("send_email");
        await second.Locator("input[data-test=action-comment], [data-test=action-comment] input").First.FillAsync("No discounts this month");
        await second.Locator("[data-test=action-reject]").ClickAsync();
        await Assertions.Expect(second).ToHaveCountAsync(0);

        await Assertions.Expect(run).ToHaveAttributeAsync("data-state", "succeeded", new() { Timeout = 30_000 });
        await Assertions.Expect(member.Locator("[data-test=agent-tool-result]")).ToHaveAttributeAsync("data-state", "rejected");
        await Assertions.Expect(member.Locator("[data-test=agent-answer]")).ToContainTextAsync("was not executed");
        await Assertions.Expect(member.Locator("[data-test=agent-answer]")).ToContainTextAsync("No discounts this month");
        await BrowserFixture.ScreenshotAsync(member, "agent-journey-member-rejected");
        await member.Context.CloseAsync();
        await admin.Context.CloseAsync();
    }

    /// <summary>Sends a message in agent mode and waits for the approval it asks for; returns the pending action's id.</summary>
    private static async Task<string> AskAsync(IPage member, string text)
    {
        var shown = member.Locator("[data-test=agent-run]");
        var previous = await shown.CountAsync() == 0 ? "" : await shown.GetAttributeAsync("data-run");
        await member.FillAsync("[data-test=composer]", text);
        await member.ClickAsync("[data-test=send]");
        // The new run replaces the one shown before.
        var approval = member.Locator($"[data-test=agent-run]:not([data-run='{previous}']) [data-test=agent-approval]");
        await Assertions.Expect(approval).ToHaveCountAsync(1, new() { Timeout = 30_000 });
        return (await approval.GetAttributeAsync("data-approval"))!;
    }
}
