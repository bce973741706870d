using Bunit;
using Keystone.Data.Agents;
using Keystone.Data.Identity;
using Keystone.Testing.Upstreams;
using Keystone.Web.Features.Agents.Mcp;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary>The agents page's MCP servers panel and the run page's undo panel, over the real app (SQLite).</summary>
public sealed class AgentToolPanelsTests : KeystoneComponentTest, IClassFixture<SqliteMcpAppFixture>, IAsyncLifetime
{
    // A bound for database round trips and a loopback MCP handshake on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private readonly SqliteMcpAppFixture _fixture;

    public AgentToolPanelsTests(SqliteMcpAppFixture fixture)
    {
        _fixture = fixture;
        // Hangfire's log provider is process-global: another test host that set it and was disposed would make the first
        // resolution of this host's job client (through AgentRunService) fail. Resolve it now with a silent provider.
        _ = fixture.App.Services.GetRequiredService<Hangfire.IBackgroundJobClient>();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services dispose only asynchronously.
    public new async Task DisposeAsync() => await base.DisposeAsync();

    private void SignIn(string role)
    {
        var scope = _fixture.App.Services.CreateAsyncScope();
        var tenant = scope.ServiceProvider.GetRequiredService<TenantContext>();
        tenant.SetUser(PrincipalFor(role, DemoData.AcmeId));
        Services.AddSingleton(tenant);
        Services.AddSingleton(scope.ServiceProvider.GetRequiredService<McpServerCatalog>());
        Services.AddSingleton(scope.ServiceProvider.GetRequiredService<ToolUndoService>());
        Services.AddSingleton(TimeProvider.System);
    }

    [Fact]
    public async Task McpPanel_RegisterThroughTheForm_ShowsItsStateAndToolsAndOnlyTheMaskedCredential_AndABadUrlInPlainWords()
    {
        await using var mcp = await LoopbackMcpServer.StartAsync("Bearer panel-secret-4321");
        SignIn(Roles.TenantAdmin);
        var name = AgentTestHelpers.UniqueServerName();
        var panel = Render<McpServersPanel>(p => p.Add(x => x.TenantId, DemoData.AcmeId));

        panel.Find("[data-test=mcp-name]").Change(name);
        panel.Find("[data-test=mcp-url]").Change("ftp://example.com/mcp");
        panel.Find("[data-test=mcp-register]").Click();
        panel.WaitForAssertion(() => Assert.Contains("http and https", panel.Find("[data-test=mcp-error]").TextContent, StringComparison.Ordinal), Wait);

        panel.Find("[data-test=mcp-url]").Change(mcp.Endpoint.AbsoluteUri);
        panel.Find("[data-test=mcp-authorization]").Change("Bearer panel-secret-4321");
        panel.Find("[data-test=mcp-register]").Click();

        panel.WaitForAssertion(() => Assert.Contains(name, panel.Find("[data-test=mcp-table]").TextContent, StringComparison.Ordinal), Wait);
        var table = panel.Find("[data-test=mcp-table]").TextContent;
        Assert.Contains("answering", table, StringComparison.Ordinal);
        Assert.Contains("lookup_order", table, StringComparison.Ordinal);
        Assert.Contains("…4321", table, StringComparison.Ordinal);
        Assert.DoesNotContain("panel-secret", panel.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public async Task McpPanel_ServerThatWentDown_ShowsDownAndWhyAfterARefresh()
    {
        var mcp = await LoopbackMcpServer.StartAsync();
        var name = AgentTestHelpers.UniqueServerName();
        await _fixture.RegisterAsync(DemoData.AcmeId, name, mcp.Endpoint);
        await mcp.DisposeAsync();
        SignIn(Roles.TenantAdmin);
        var panel = Render<McpServersPanel>(p => p.Add(x => x.TenantId, DemoData.AcmeId));
        panel.WaitForAssertion(() => Assert.Contains(name, panel.Find("[data-test=mcp-table]").TextContent, StringComparison.Ordinal), Wait);

        var row = panel.FindAll("[data-test=mcp-table] tr").Single(r => r.TextContent.Contains(name, StringComparison.Ordinal));
        row.QuerySelector("[data-test=mcp-refresh]")!.Click();

        panel.WaitForAssertion(() =>
        {
            var refreshed = panel.FindAll("[data-test=mcp-table] tr").Single(r => r.TextContent.Contains(name, StringComparison.Ordinal));
            Assert.Equal("down", refreshed.QuerySelector("[data-test=mcp-state]")!.TextContent.Trim());
            Assert.Contains("did not answer", refreshed.QuerySelector("[data-test=mcp-last-error]")!.TextContent, StringComparison.Ordinal);
        }, Wait);
    }

    [Fact]
    public async Task UndoPanel_AdminUndoesTheTicket_SupportSeesTheStateWithoutAButton()
    {
        var agent = await _fixture.CreateAgentAsync(["create_support_ticket"]);
        var run = await _fixture.CreateRunAsync(agent, "Open a ticket. [sim:tool=create_support_ticket]");
        await _fixture.WorkAsync(run.Id);
        SignIn(Roles.TenantAdmin);

        var panel = Render<UndoPanel>(p => p.Add(x => x.TenantId, DemoData.AcmeId).Add(x => x.RunId, run.Id));
        panel.WaitForElement("[data-test=undo-button]", Wait).Click();

        panel.WaitForAssertion(() => Assert.Contains("Undone", panel.Find("[data-test=undo-message]").TextContent, StringComparison.Ordinal), Wait);
        panel.WaitForElement("[data-test=undo-state]", Wait);
        Assert.Empty(panel.FindAll("[data-test=undo-button]"));
        await using var db = _fixture.Db();
        Assert.NotNull((await db.SupportTickets.AsNoTracking().SingleAsync(t => t.RunId == run.Id)).UndoneUtc);
    }

    [Fact]
    public async Task UndoPanel_Support_SeesTheStepButNoUndoButton()
    {
        var agent = await _fixture.CreateAgentAsync(["create_support_ticket"]);
        var run = await _fixture.CreateRunAsync(agent, "Open a ticket. [sim:tool=create_support_ticket]");
        await _fixture.WorkAsync(run.Id);
        var (_, steps) = await _fixture.ReadAsync(run.Id);
        var step = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        SignIn(Roles.Support);

        var panel = Render<UndoPanel>(p => p.Add(x => x.TenantId, DemoData.AcmeId).Add(x => x.RunId, run.Id));

        panel.WaitForElement($"[data-test=undo-step-{step.Sequence}]", Wait);
        Assert.Empty(panel.FindAll("[data-test=undo-button]"));
    }
}
