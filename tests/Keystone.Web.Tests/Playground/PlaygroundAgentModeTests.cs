using System.Security.Claims;
using AngleSharp.Dom;
using Bunit;
using Keystone.Data.Agents;
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
/// The playground's agent mode over the real app (SQLite, the agent runner, the approvals service, the demo agent
/// "Customer helper"), signed in as Acme's demo member: the message starts a durable run, and the open page follows its
/// events (tool use, approval with who decides, the decision, the answer as markdown) without being rendered again; the
/// run can be cancelled; opening the run's address later shows it where it is.
/// </summary>
public sealed class PlaygroundAgentModeTests : KeystoneComponentTest, IClassFixture<SqliteApprovalsAppFixture>, IAsyncLifetime
{
    // A bound for database round trips on a busy machine, not a speed assertion. The views' safety poll is ten minutes
    // in this fixture, so everything a test sees change within this bound arrived by a notice, not by polling.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static readonly ApprovalActor Admin = new(ApprovalActor.UserType, "acme-admin-test", "admin@acme.demo", Roles.TenantAdmin, false);

    private readonly SqliteApprovalsAppFixture _fixture;
    private AsyncServiceScope _scope;
    private string _memberId = "";

    public PlaygroundAgentModeTests(SqliteApprovalsAppFixture fixture) => _fixture = fixture;

    private CountingChannel _channel = default!;

    public async Task InitializeAsync()
    {
        _scope = _fixture.App.Services.CreateAsyncScope();
        // The app's run notices, counting the views that listen (so a closed page is seen to stop listening).
        _channel = new CountingChannel(_scope.ServiceProvider.GetRequiredService<IApprovalSourceNotices>());
        Services.AddSingleton(new AgentRunNotices(_channel, _scope.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<AgentsOptions>>()));
        var member = await _scope.ServiceProvider.GetRequiredService<UserManager<KeystoneUser>>().FindByEmailAsync("member@acme.demo");
        _memberId = member!.Id;
        var tenant = _scope.ServiceProvider.GetRequiredService<TenantContext>();
        tenant.SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new(ClaimTypes.NameIdentifier, _memberId), new(ClaimTypes.Email, "member@acme.demo"), new(ClaimTypes.Role, Roles.TenantMember),
            new(KeystoneClaims.TenantId, DemoData.AcmeId.ToString()),
        ], "test")));
        Services.AddSingleton(tenant);
        // The app's own policies decide (bUnit's placeholder would refuse to answer).
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

    private IRenderedComponent<PlaygroundPage> RenderInAgentMode()
    {
        var page = Render<PlaygroundPage>();
        page.WaitForElement("[data-test=agent-mode]", Wait);
        var toggle = page.Find("[data-test=agent-mode]");
        (toggle.TagName == "INPUT" ? toggle : toggle.QuerySelector("input")!).Change(true);
        page.WaitForAssertion(() => Assert.Contains(AgentsDemoSeed.AgentName, page.Find("[data-test=agent-picker]").OuterHtml, StringComparison.Ordinal), Wait);
        return page;
    }

    /// <summary>Types and sends a message in agent mode; returns the started run's id (the page's run panel names it).</summary>
    private static async Task<Guid> AskAsync(IRenderedComponent<PlaygroundPage> page, string text)
    {
        page.Find("[data-test=composer]").Input(text);
        await page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());
        page.WaitForElement("[data-test=agent-run]", Wait);
        return Guid.Parse(page.Find("[data-test=agent-run]").GetAttribute("data-run")!);
    }

    private async Task<PendingActionView> PendingFor(Guid runId)
    {
        using var scope = _fixture.App.Services.CreateScope();
        var pending = await scope.ServiceProvider.GetRequiredService<ApprovalService>().PendingAsync(DemoData.AcmeId, CancellationToken.None);
        return Assert.Single(pending, a => a.SourceId == runId);
    }

    private async Task DecideAsync(Guid actionId, ApprovalVerdict verdict, string? comment = null)
    {
        using var scope = _fixture.App.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<ApprovalService>().DecideAsync(DemoData.AcmeId, actionId, verdict, null, comment, Admin, CancellationToken.None);
    }

    private static IElement Approval(IRenderedComponent<PlaygroundPage> page) => page.Find("[data-test=agent-approval]");

    [Fact]
    public async Task AgentMode_SendEmail_PausesForAnAdminLiveThenTheApprovalRunsItAndTheAnswerAppearsWithoutARender()
    {
        var page = RenderInAgentMode();

        var runId = await AskAsync(page, "Tell jo@customer.example the outage is over. [sim:tool=send_email]");
        // The run belongs to the member, started through the same service as the API, with a member's tool permissions.
        var (run, _) = await _fixture.ReadAsync(runId);
        Assert.Equal((_memberId, _memberId), (run.StartedByUserId, run.OnBehalfOf));
        Assert.True(AgentPermissions.Has(run.Permissions, AgentPermissions.EmailSend));
        Assert.False(AgentPermissions.Has(run.Permissions, AgentPermissions.CreditsIssue));

        await _fixture.WorkAsync(runId);
        page.WaitForAssertion(() => Assert.Contains("Waiting for an admin of this tenant to decide", Approval(page).TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal("/approvals", page.Find("[data-test=agent-approval-link]").GetAttribute("href"));
        Assert.Equal("send_email", page.Find("[data-test=agent-tool-use]").GetAttribute("data-tool"));
        Assert.Equal("waiting_approval", page.Find("[data-test=agent-run]").GetAttribute("data-state"));
        Assert.NotNull(page.Find("[data-test=agent-cancel]"));

        var action = await PendingFor(runId);
        await DecideAsync(action.Id, ApprovalVerdict.Approve);
        await _fixture.FinishAsync(runId, AgentRunState.Succeeded);

        page.WaitForAssertion(() => Assert.Equal("succeeded", page.Find("[data-test=agent-run]").GetAttribute("data-state")), Wait);
        Assert.Contains("Approved", page.Find("[data-test=agent-approval-outcome]").TextContent, StringComparison.Ordinal);
        Assert.Equal("completed", page.Find("[data-test=agent-tool-result]").GetAttribute("data-state"));
        var (done, _) = await _fixture.ReadAsync(runId);
        // The final answer is the run's output, rendered once, as sanitized markdown.
        Assert.Equal(Markdig.Markdown.ToPlainText(done.Output!).Trim(), page.Find("[data-test=agent-answer] [data-test=markdown]").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-test=agent-token]"));
        Assert.NotNull(page.Find("[data-test=send]"));
        await using var db = _fixture.Db();
        Assert.Equal(1, await db.MailSink.CountAsync(m => m.RunId == runId));
        Assert.Contains(page.FindAll("[data-test=recent-run]"), r => r.GetAttribute("data-run") == runId.ToString());
    }

    [Fact]
    public void Fixture_TheSafetyPollIsLongerThanAnyWait_SoTheseTestsProvePush()
        => Assert.True(_scope.ServiceProvider.GetRequiredService<AgentRunNotices>().SafetyPoll > Wait * 10);

    [Fact]
    public async Task AgentMode_TheOpenRunListensForNotices_AndStopsListeningWhenThePageCloses()
    {
        var page = RenderInAgentMode();
        var runId = await AskAsync(page, "Email jo@customer.example the summary. [sim:tool=send_email]");
        await _fixture.WorkAsync(runId);
        page.WaitForElement("[data-test=agent-approval]", Wait);

        Assert.Equal(1, _channel.Subscribers);

        await DisposeComponentsAsync();

        Assert.Equal(0, _channel.Subscribers);
    }

    [Fact]
    public async Task AgentMode_Rejected_TheCardSaysItWasNotSentAndNothingIsSent()
    {
        var page = RenderInAgentMode();
        var runId = await AskAsync(page, "Email jo@customer.example a discount code. [sim:tool=send_email]");
        await _fixture.WorkAsync(runId);
        page.WaitForElement("[data-test=agent-approval]", Wait);

        await DecideAsync((await PendingFor(runId)).Id, ApprovalVerdict.Reject, "No discounts this month.");
        await _fixture.FinishAsync(runId, AgentRunState.Succeeded);

        page.WaitForAssertion(() => Assert.Equal("succeeded", page.Find("[data-test=agent-run]").GetAttribute("data-state")), Wait);
        var result = page.Find("[data-test=agent-tool-result]");
        Assert.Equal("rejected", result.GetAttribute("data-state"));
        Assert.Contains("not carried out", result.TextContent, StringComparison.Ordinal);
        Assert.Contains("No discounts this month.", result.TextContent, StringComparison.Ordinal);
        Assert.Contains("Rejected", page.Find("[data-test=agent-approval-outcome]").TextContent, StringComparison.Ordinal);
        await using var db = _fixture.Db();
        Assert.False(await db.MailSink.AnyAsync(m => m.RunId == runId));
    }

    [Fact]
    public async Task AgentMode_CancelWhileWaiting_EndsTheRunAndTheComposerSendsAgain()
    {
        var page = RenderInAgentMode();
        var runId = await AskAsync(page, "Email jo@customer.example the invoice. [sim:tool=send_email]");
        await _fixture.WorkAsync(runId);
        page.WaitForElement("[data-test=agent-approval]", Wait);

        await page.Find("[data-test=agent-cancel]").ClickAsync(new MouseEventArgs());

        page.WaitForAssertion(() => Assert.Equal("cancelled", page.Find("[data-test=agent-run]").GetAttribute("data-state")), Wait);
        Assert.Contains("cancelled", page.Find("[data-test=agent-done]").TextContent, StringComparison.Ordinal);
        Assert.Contains("ended before anyone decided", page.Find("[data-test=agent-approval-outcome]").TextContent, StringComparison.Ordinal);
        page.WaitForElement("[data-test=send]", Wait);
        var (run, _) = await _fixture.ReadAsync(runId);
        Assert.Equal(AgentRunState.Cancelled, run.State);
    }

    [Fact]
    public async Task AgentMode_OpeningTheRunsAddressLater_ShowsItWhereItIsFromTheFirstEvent_AndOthersRunsAreNotShown()
    {
        var first = RenderInAgentMode();
        var runId = await AskAsync(first, "What did we spend today? [sim:tool=get_usage_summary]");
        await _fixture.FinishAsync(runId, AgentRunState.Succeeded);
        first.Dispose();

        // Back later (a reload, or the link in "Your recent runs"): the address names the run.
        var navigation = Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>();
        navigation.NavigateTo($"playground?run={runId}");
        var again = Render<PlaygroundPage>();

        again.WaitForAssertion(() => Assert.Equal("succeeded", again.Find("[data-test=agent-run]").GetAttribute("data-state")), Wait);
        Assert.Equal("get_usage_summary", again.Find("[data-test=agent-tool-use]").GetAttribute("data-tool"));
        Assert.Equal("completed", again.Find("[data-test=agent-tool-result]").GetAttribute("data-state"));
        Assert.NotEmpty(again.Find("[data-test=agent-answer]").TextContent.Trim());
        Assert.Contains("What did we spend today?", again.Find("[data-test=agent-run-input]").TextContent, StringComparison.Ordinal);

        // Someone else's run in the same tenant is not shown in this member's playground.
        AgentRun other;
        using (var scope = _fixture.App.Services.CreateScope())
        {
            var agent = (await scope.ServiceProvider.GetRequiredService<AgentCatalog>().ListAsync(DemoData.AcmeId, CancellationToken.None))[0];
            other = await scope.ServiceProvider.GetRequiredService<AgentRunService>().CreateAsync(DemoData.AcmeId, agent.Id, "Somebody else's question",
                new RunActor("someone-else", null, "someone-else", []), CancellationToken.None);
        }

        again.Dispose();
        navigation.NavigateTo($"playground?run={other.Id}");
        var foreign = Render<PlaygroundPage>();
        foreign.WaitForElement("[data-test=agent-run-missing]", Wait);
        Assert.DoesNotContain("Somebody else's question", foreign.Markup, StringComparison.Ordinal);

        // An address that names no run is answered in words.
        foreign.Dispose();
        navigation.NavigateTo("playground?run=not-a-run");
        var malformed = Render<PlaygroundPage>();
        malformed.WaitForElement("[data-test=conversation-not-found]", Wait);
        Assert.Empty(malformed.FindAll("[data-test=agent-run]"));
    }
}

/// <summary>The approvals' source notices, passed through, counting the handlers subscribed.</summary>
internal sealed class CountingChannel(IApprovalSourceNotices inner) : IApprovalSourceNotices
{
    private int _subscribers;

    public int Subscribers => Volatile.Read(ref _subscribers);

    public bool ReachesEveryInstance => inner.ReachesEveryInstance;

    public event Action<Guid, Guid>? SourceChanged
    {
        add
        {
            inner.SourceChanged += value;
            Interlocked.Increment(ref _subscribers);
        }

        remove
        {
            inner.SourceChanged -= value;
            Interlocked.Decrement(ref _subscribers);
        }
    }

    public void PublishSource(Guid tenantId, Guid sourceId) => inner.PublishSource(tenantId, sourceId);
}
