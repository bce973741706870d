using System.Security.Claims;
using Bunit;
using Keystone.Data.Approvals;
using Keystone.Data.Identity;
using Keystone.Web.Components.Layout;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Api;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Approvals;

/// <summary>
/// The /approvals inbox and the navigation badge over the real app (SQLite, the approvals service, its notices and the
/// audit log), signed in as a demo admin or member. Live tests change the data through the service, as an agent or
/// another decider would, and wait for the open page to show it without being rendered again.
/// </summary>
public sealed class ApprovalsPageTests : KeystoneComponentTest, IClassFixture<ApiFixture>, IAsyncLifetime
{
    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly ApiFixture _fixture;
    private AsyncServiceScope _scope;

    public ApprovalsPageTests(ApiFixture fixture) => _fixture = fixture;

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    private ApprovalService Approvals => _fixture.App.Services.GetRequiredService<ApprovalService>();

    /// <summary>Signs the page in as a demo user (their real id, so "my requests" and the audit name them).</summary>
    private async Task<string> SignInAsAsync(string email, string role, Guid tenantId)
    {
        _scope = _fixture.App.Services.CreateAsyncScope();
        var user = await _scope.ServiceProvider.GetRequiredService<UserManager<KeystoneUser>>().FindByEmailAsync(email);
        var tenant = _scope.ServiceProvider.GetRequiredService<TenantContext>();
        tenant.SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new(ClaimTypes.NameIdentifier, user!.Id), new(ClaimTypes.Email, email), new(ClaimTypes.Role, role),
            new(KeystoneClaims.TenantId, tenantId.ToString()),
        ], "test")));
        Services.AddSingleton(tenant);
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<ApprovalInbox>());
        Services.AddSingleton(_fixture.App.Services.GetRequiredService<ApprovalNotices>());
        Services.AddSingleton(TimeProvider.System);
        return user.Id;
    }

    private Task<Guid> RequestAsync(Guid tenantId, string onBehalfOf, bool editable = true, string approverRole = Roles.TenantAdmin, string summary = "Send an email to customer@example.com")
        => Approvals.RequestAsync(ApprovalTestData.Request(tenantId, DateTime.UtcNow, step: Guid.NewGuid().ToString("N"), editable: editable,
            approverRole: approverRole, onBehalfOf: onBehalfOf) with { Summary = summary }, CancellationToken.None);

    private async Task<PendingAction> RowAsync(Guid id)
    {
        await using var db = _fixture.App.CreateSystemDb();
        return await db.PendingActions.AsNoTracking().SingleAsync(a => a.Id == id);
    }

    private IRenderedComponent<ApprovalsPage> RenderPage()
    {
        var page = Render<ApprovalsPage>();
        page.WaitForElement("[data-test=approvals-tabs]", Wait);
        return page;
    }

    [Fact]
    public async Task Render_NothingWaiting_EmptyStatesSayWhatLandsHere()
    {
        await SignInAsAsync("admin@initech.demo", Roles.TenantAdmin, DemoData.InitechId);

        var page = RenderPage();

        Assert.Contains("Nothing waits for your approval", page.Find("[data-test=waiting-empty]").TextContent, StringComparison.Ordinal);
        Assert.Contains("send an email, spend money or", page.Find("[data-test=waiting-empty]").TextContent, StringComparison.Ordinal);
        Assert.Contains("Waiting for you (0)", page.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Approve_WithComment_DecidesAuditsAndMovesTheActionToHistory()
    {
        var adminId = await SignInAsAsync("admin@acme.demo", Roles.TenantAdmin, DemoData.AcmeId);
        var member = (await _fixture.App.Services.CreateScope().ServiceProvider.GetRequiredService<UserManager<KeystoneUser>>().FindByEmailAsync("member@acme.demo"))!;
        var id = await RequestAsync(DemoData.AcmeId, member.Id, summary: "Send the refund email");
        var page = RenderPage();
        var card = page.Find($"[data-test=action-{id}]");

        Assert.Contains("Send the refund email", card.TextContent, StringComparison.Ordinal);
        Assert.Contains("customer@example.com", page.Find($"[data-test=action-{id}] [data-test=input-field-to]").TextContent, StringComparison.Ordinal);
        Assert.Equal("$2.50", page.Find($"[data-test=action-{id}] [data-test=action-amount] [data-test=money]").TextContent.Trim());
        Assert.Contains("member@acme.demo", page.Find($"[data-test=action-{id}] [data-test=action-for]").TextContent, StringComparison.Ordinal);
        Assert.Contains("<strong>refund</strong>", page.Find($"[data-test=action-{id}] [data-test=action-rationale]").InnerHtml, StringComparison.Ordinal);

        page.Find($"[data-test=action-{id}] [data-test=action-comment]").Change("Go ahead");
        page.Find($"[data-test=action-{id}] [data-test=action-approve]").Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll($"[data-test=action-{id}]")), Wait);
        var row = await RowAsync(id);
        Assert.Equal((PendingActionStatus.Approved, adminId, "Go ahead"), (row.Status, row.DecidedById, row.Comment));
        await using (var db = _fixture.App.CreateSystemDb())
        {
            Assert.True(await db.AuditLog.AnyAsync(a => a.Target == $"pending_action:{id}" && a.Action == "approval.approve" && a.ActorId == adminId && a.OnBehalfOf == member.Id));
        }

        page.FindAll("[role=tab]").Single(t => t.TextContent.Contains("History", StringComparison.Ordinal)).Click();
        page.WaitForAssertion(() => Assert.Contains("approved by admin@acme.demo", page.Find($"[data-test=history-{id}]").ParentElement!.TextContent, StringComparison.Ordinal), Wait);
    }

    [Fact]
    public async Task Reject_WithComment_IsStoredAsRejected()
    {
        await SignInAsAsync("admin@acme.demo", Roles.TenantAdmin, DemoData.AcmeId);
        var id = await RequestAsync(DemoData.AcmeId, "someone");
        var page = RenderPage();

        page.Find($"[data-test=action-{id}] [data-test=action-comment]").Change("Not this customer");
        page.Find($"[data-test=action-{id}] [data-test=action-reject]").Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll($"[data-test=action-{id}]")), Wait);
        var row = await RowAsync(id);
        Assert.Equal((PendingActionStatus.Rejected, "Not this customer"), (row.Status, row.Comment));
    }

    [Fact]
    public async Task Edit_InvalidJsonIsRefusedInPlace_ThenTheEditedInputIsApproved()
    {
        await SignInAsAsync("admin@acme.demo", Roles.TenantAdmin, DemoData.AcmeId);
        var id = await RequestAsync(DemoData.AcmeId, "someone");
        var fixedInput = await RequestAsync(DemoData.AcmeId, "someone", editable: false);
        var page = RenderPage();
        Assert.Empty(page.FindAll($"[data-test=action-{fixedInput}] [data-test=action-edit]"));

        page.Find($"[data-test=action-{id}] [data-test=action-edit]").Click();
        page.Find($"[data-test=action-{id}] [data-test=action-editor]").Change("""{"to": "customer@example.com", """);
        page.Find($"[data-test=action-{id}] [data-test=action-approve-edited]").Click();

        page.WaitForAssertion(() => Assert.Contains("not valid JSON", page.Find($"[data-test=action-{id}]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(PendingActionStatus.Pending, (await RowAsync(id)).Status);

        page.Find($"[data-test=action-{id}] [data-test=action-editor]").Change("""{"to": "billing@example.com", "subject": "Refund"}""");
        page.Find($"[data-test=action-{id}] [data-test=action-approve-edited]").Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll($"[data-test=action-{id}]")), Wait);
        var row = await RowAsync(id);
        Assert.Equal((PendingActionStatus.Approved, """{"to":"billing@example.com","subject":"Refund"}"""), (row.Status, row.EditedInputJson));
    }

    [Fact]
    public async Task Live_ARequestArrivesAndAnotherDecidesIt_TheOpenPageFollowsWithoutAReload()
    {
        await SignInAsAsync("admin@globex.demo", Roles.TenantAdmin, DemoData.GlobexId);
        var page = RenderPage();

        var id = await RequestAsync(DemoData.GlobexId, "someone", summary: "Issue a $2.50 credit");

        page.WaitForAssertion(() => Assert.Contains("Issue a $2.50 credit", page.Find($"[data-test=action-{id}]").TextContent, StringComparison.Ordinal), Wait);

        await Approvals.DecideAsync(DemoData.GlobexId, id, ApprovalVerdict.Reject, null, "No", ApprovalTestData.Admin("other-admin"), CancellationToken.None);

        page.WaitForAssertion(() => Assert.Empty(page.FindAll($"[data-test=action-{id}]")), Wait);
    }

    [Fact]
    public async Task Live_TheRunThatAskedIsCancelled_TheCardLeavesTheOpenPageAndHistorySaysCancelledWithItsRun()
    {
        await SignInAsAsync("admin@globex.demo", Roles.TenantAdmin, DemoData.GlobexId);
        var request = ApprovalTestData.Request(DemoData.GlobexId, DateTime.UtcNow, step: Guid.NewGuid().ToString("N"), onBehalfOf: "someone")
            with { Summary = "Email the Globex customer" };
        var id = await Approvals.RequestAsync(request, CancellationToken.None);
        var page = RenderPage();
        page.WaitForElement($"[data-test=action-{id}]", Wait);

        await Approvals.CancelWithSourceAsync(DemoData.GlobexId, request.SourceKind, request.SourceId, new SourceCanceller("user", "someone", "someone@globex.demo"),
            (_, _) => Task.FromResult(true), CancellationToken.None);

        page.WaitForAssertion(() => Assert.Empty(page.FindAll($"[data-test=action-{id}]")), Wait);
        page.FindAll("[role=tab]").Single(t => t.TextContent.Contains("History", StringComparison.Ordinal)).Click();
        page.WaitForAssertion(() => Assert.Contains("cancelled with its run by someone@globex.demo", page.Find($"[data-test=history-{id}]").ParentElement!.TextContent,
            StringComparison.Ordinal), Wait);
    }

    [Fact]
    public async Task Decide_TheRunWasCancelledMeanwhile_TheCardSaysSoInPlainWordsAndNothingRuns()
    {
        await SignInAsAsync("admin@acme.demo", Roles.TenantAdmin, DemoData.AcmeId);
        var id = await RequestAsync(DemoData.AcmeId, "someone");
        var page = RenderPage();
        // The cancel lands without a notice (another instance whose NOTIFY was lost): the open card is stale.
        await using (var db = _fixture.App.CreateSystemDb())
        {
            await db.PendingActions.Where(a => a.Id == id).ExecuteUpdateAsync(s => s
                .SetProperty(a => a.Status, PendingActionStatus.Cancelled).SetProperty(a => a.DecidedByName, "member@acme.demo")
                .SetProperty(a => a.DecidedUtc, DateTime.UtcNow).SetProperty(a => a.HandledUtc, DateTime.UtcNow));
        }

        page.Find($"[data-test=action-{id}] [data-test=action-approve]").Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll($"[data-test=action-{id}]")), Wait);
        Assert.Contains("was cancelled by member@acme.demo", page.Find("[data-test=decision-notice]").TextContent, StringComparison.Ordinal);
        Assert.Equal(PendingActionStatus.Cancelled, (await RowAsync(id)).Status);
    }

    [Fact]
    public async Task Decide_SomeoneElseDecidedFirst_TheCardSaysWhoAndNothingChanges()
    {
        await SignInAsAsync("admin@acme.demo", Roles.TenantAdmin, DemoData.AcmeId);
        var id = await RequestAsync(DemoData.AcmeId, "someone");
        var page = RenderPage();
        // The other decision lands in the database without a notice (another instance whose NOTIFY was lost).
        await using (var db = _fixture.App.CreateSystemDb())
        {
            await db.PendingActions.Where(a => a.Id == id).ExecuteUpdateAsync(s => s
                .SetProperty(a => a.Status, PendingActionStatus.Rejected).SetProperty(a => a.DecidedByName, "other@acme.demo")
                .SetProperty(a => a.DecidedUtc, DateTime.UtcNow));
        }

        page.Find($"[data-test=action-{id}] [data-test=action-approve]").Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll($"[data-test=action-{id}]")), Wait);
        Assert.Contains("Already rejected by other@acme.demo", page.Find("[data-test=decision-notice]").TextContent, StringComparison.Ordinal);
        Assert.Equal((PendingActionStatus.Rejected, "other@acme.demo"), ((await RowAsync(id)).Status, (await RowAsync(id)).DecidedByName));
    }

    [Fact]
    public async Task Member_SeesOwnRequestToWithdrawButNoApproveForAnAdminAction()
    {
        var memberId = await SignInAsAsync("member@acme.demo", Roles.TenantMember, DemoData.AcmeId);
        var id = await RequestAsync(DemoData.AcmeId, memberId, summary: "Email the customer for me");
        var page = RenderPage();

        // Nothing waits for the member's own decision, so the page opens on their request.
        page.WaitForAssertion(() => Assert.NotNull(page.Find($"[data-test=action-{id}] [data-test=action-withdraw]")), Wait);
        Assert.Empty(page.FindAll($"[data-test=action-{id}] [data-test=action-approve]"));

        page.Find($"[data-test=action-{id}] [data-test=action-withdraw]").Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll($"[data-test=action-{id}]")), Wait);
        Assert.Equal((PendingActionStatus.Rejected, memberId), ((await RowAsync(id)).Status, (await RowAsync(id)).DecidedById));
    }

    [Fact]
    public async Task Badge_CountsWhatWaitsForThePersonAndFollowsArrivalsAndDecisionsLive()
    {
        await SignInAsAsync("admin@initech.demo", Roles.TenantAdmin, DemoData.InitechId);
        Services.AddSingleton(new NavBadge("/approvals", typeof(ApprovalsBadge)));
        var before = await Approvals.CountWaitingAsync(DemoData.InitechId, ApprovalTestData.Admin(), CancellationToken.None);
        var menu = Render<NavMenu>(p => p.Add(c => c.User, PrincipalFor(Roles.TenantAdmin, DemoData.InitechId)));
        string Badge() => menu.FindAll("[data-test=nav-approvals] [data-test=approvals-badge]") is [var b] ? b.TextContent.Trim() : "none";
        Assert.Equal(before == 0 ? "none" : before.ToString(System.Globalization.CultureInfo.InvariantCulture), Badge());

        var first = await RequestAsync(DemoData.InitechId, "someone");
        await RequestAsync(DemoData.InitechId, "someone");

        menu.WaitForAssertion(() => Assert.Equal((before + 2).ToString(System.Globalization.CultureInfo.InvariantCulture), Badge()), Wait);

        await Approvals.DecideAsync(DemoData.InitechId, first, ApprovalVerdict.Approve, null, null, ApprovalTestData.Admin(), CancellationToken.None);

        menu.WaitForAssertion(() => Assert.Equal((before + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), Badge()), Wait);
    }
}
