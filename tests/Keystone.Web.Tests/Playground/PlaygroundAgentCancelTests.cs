using System.Security.Claims;
using Bunit;
using Keystone.Data.Agents;
using Keystone.Data.Approvals;
using Keystone.Data.Identity;
using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Features.Playground;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Agents;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Playground;

/// <summary>
/// The member's "Cancel the run" in the playground when an admin's approval got there first and is being handed to the
/// run: the page says so in plain words, nothing is cancelled, and the approved email is sent (issue 25 follow-up, item 1).
/// </summary>
public sealed class PlaygroundAgentCancelTests : KeystoneComponentTest, IClassFixture<SqliteCancelApprovalsAppFixture>, IAsyncLifetime
{
    // A bound for database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static readonly ApprovalActor Admin = new(ApprovalActor.UserType, "acme-admin-test", "admin@acme.demo", Roles.TenantAdmin, false);

    private readonly SqliteCancelApprovalsAppFixture _fixture;
    private AsyncServiceScope _scope;

    public PlaygroundAgentCancelTests(SqliteCancelApprovalsAppFixture fixture) => _fixture = fixture;

    public async Task InitializeAsync()
    {
        _scope = _fixture.App.Services.CreateAsyncScope();
        var member = await _scope.ServiceProvider.GetRequiredService<UserManager<KeystoneUser>>().FindByEmailAsync("member@acme.demo");
        var tenant = _scope.ServiceProvider.GetRequiredService<TenantContext>();
        tenant.SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new(ClaimTypes.NameIdentifier, member!.Id), new(ClaimTypes.Email, "member@acme.demo"), new(ClaimTypes.Role, Roles.TenantMember),
            new(KeystoneClaims.TenantId, DemoData.AcmeId.ToString()),
        ], "test")));
        Services.AddSingleton(tenant);
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Authorization.IAuthorizationService>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<AgentCatalog>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<AgentRunService>());
        Services.AddFallbackServiceProvider(_scope.ServiceProvider);
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    [Fact]
    public async Task Cancel_WhileAnAdminsApprovalIsBeingHandedOver_ThePageSaysWhoApprovedAndTheRunCarriesItOut()
    {
        var page = Render<PlaygroundPage>();
        page.WaitForElement("[data-test=agent-mode]", Wait);
        var toggle = page.Find("[data-test=agent-mode]");
        (toggle.TagName == "INPUT" ? toggle : toggle.QuerySelector("input")!).Change(true);
        page.WaitForAssertion(() => Assert.Contains(AgentsDemoSeed.AgentName, page.Find("[data-test=agent-picker]").OuterHtml, StringComparison.Ordinal), Wait);
        page.Find("[data-test=composer]").Input("Tell jo@customer.example the outage is over. [sim:tool=send_email]");
        await page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());
        page.WaitForElement("[data-test=agent-run]", Wait);
        var runId = Guid.Parse(page.Find("[data-test=agent-run]").GetAttribute("data-run")!);
        await _fixture.WorkAsync(runId);
        page.WaitForElement("[data-test=agent-approval]", Wait);
        var action = Assert.Single(await _scope.ServiceProvider.GetRequiredService<ApprovalService>().PendingAsync(DemoData.AcmeId, CancellationToken.None),
            a => a.SourceId == runId);
        var gate = _fixture.Gate.Arm(runId);
        var approving = Task.Run(async () =>
        {
            using var scope = _fixture.App.Services.CreateScope();
            return await scope.ServiceProvider.GetRequiredService<ApprovalService>().DecideAsync(DemoData.AcmeId, action.Id, ApprovalVerdict.Approve, null, null,
                Admin, CancellationToken.None);
        });
        await gate.Entered.WaitAsync(Wait);

        await page.Find("[data-test=agent-cancel]").ClickAsync(new MouseEventArgs());

        page.WaitForAssertion(() => Assert.Contains("admin@acme.demo approved 'send_email'", page.Find("[data-test=send-error]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(AgentRunState.WaitingApproval, (await _fixture.ReadAsync(runId)).Run.State);
        gate.Release();
        Assert.Equal(PendingActionStatus.Approved, (await approving).Status);
        await _fixture.FinishAsync(runId, AgentRunState.Succeeded);
        page.WaitForAssertion(() => Assert.Equal("succeeded", page.Find("[data-test=agent-run]").GetAttribute("data-state")), Wait);
        await using var db = _fixture.Db();
        Assert.Equal(1, await db.MailSink.CountAsync(m => m.RunId == runId));
    }
}
