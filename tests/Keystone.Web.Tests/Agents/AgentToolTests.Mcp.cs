using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Data.Agents;
using Keystone.Testing.Upstreams;
using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Agents.Mcp;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary>
/// The agents' tools beyond the built-in four (this file: MCP; also search_docs and L2 undo). MCP servers against a real MCP server on loopback (<see cref="LoopbackMcpServer"/>, the SDK's server side): registered,
/// its tools listed into the registry at L3, called through an agent run only after approval, refused on a schema
/// violation without reaching the server, a clear tool error when the server is down or not MCP, and invisible to another
/// tenant. On SQLite and PostgreSQL.
/// </summary>
public abstract partial class AgentToolTests(AgentAppFixture fixture)
{
    private const string Secret = "Bearer s3cret-token-9876";

    /// <summary>The fixture, for the other parts of this class (search_docs, undo).</summary>
    private AgentAppFixture Fx => fixture;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Register_OverTheApi_ListsItsToolsNamespacedAtL3_AndTheCredentialIsStoredEncryptedAndAnsweredMasked()
    {
        await using var mcp = await LoopbackMcpServer.StartAsync(Secret);
        var name = AgentTestHelpers.UniqueServerName();
        var admin = await fixture.ClientForAsync(DemoData.AcmeId, "admin");

        var response = await admin.PostAsync("/api/v1/mcp-servers", Json(JsonSerializer.Serialize(new { name, url = mcp.Endpoint.AbsoluteUri, authorization = Secret })));

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.DoesNotContain("s3cret", text, StringComparison.Ordinal);
        using var body = JsonDocument.Parse(text);
        Assert.Equal("ok", body.RootElement.GetProperty("state").GetString());
        Assert.Equal("…9876", body.RootElement.GetProperty("authorization").GetString());
        var tools = body.RootElement.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()).Order().ToList();
        Assert.Equal([$"mcp__{name}__failing", $"mcp__{name}__long_text", $"mcp__{name}__lookup_order"], tools);
        Assert.Contains(Secret, mcp.Authorizations);

        await using var db = fixture.Db();
        var row = await db.McpServers.AsNoTracking().SingleAsync(s => s.Name == name && s.TenantId == DemoData.AcmeId);
        Assert.NotNull(row.ProtectedAuthHeader);
        Assert.DoesNotContain("s3cret", row.ProtectedAuthHeader, StringComparison.Ordinal);
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "mcp_server.register" && a.Target == $"mcp_server:{row.Id}");
        Assert.DoesNotContain("s3cret", audit.MetadataJson ?? "", StringComparison.Ordinal);

        using var scope = fixture.App.Services.CreateScope();
        var levels = await scope.ServiceProvider.GetRequiredService<AgentCatalog>().ToolLevelsAsync(DemoData.AcmeId, CancellationToken.None);
        var lookup = Assert.Single(levels, l => l.Tool.Name == $"mcp__{name}__lookup_order");
        Assert.Equal(AutonomyLevel.ConfirmEach, lookup.Level);
        Assert.Equal(AgentPermissions.McpUse, lookup.Tool.RequiredPermission);
        Assert.Equal(AutonomyLevel.Autonomous, lookup.MaxLevel); // read-only: the admin may choose more autonomy
        Assert.Equal(AutonomyLevel.ConfirmEach, Assert.Single(levels, l => l.Tool.Name == $"mcp__{name}__long_text").MaxLevel);
    }

    [Fact]
    public async Task Run_McpToolAtL3_IsNotCalledBeforeApproval_AndIsCalledOnceAfter()
    {
        await using var mcp = await LoopbackMcpServer.StartAsync();
        var name = AgentTestHelpers.UniqueServerName();
        await fixture.RegisterAsync(DemoData.AcmeId, name, mcp.Endpoint);
        var tool = $"mcp__{name}__lookup_order";
        var agent = await fixture.CreateAgentAsync([tool]);
        var run = await fixture.CreateRunAsync(agent, $"Where is order 42? [sim:tool={tool}]", admin: false);

        await fixture.WorkAsync(run.Id);

        var (paused, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.WaitingApproval, paused.State);
        Assert.Equal(AgentStepState.AwaitingApproval, Assert.Single(steps, s => s.Kind == AgentStepKind.Tool).State);
        Assert.Empty(mcp.Calls);
        var (approvalId, request) = Assert.Single(fixture.Approvals.For(run.Id));
        Assert.Equal(tool, request.Tool);
        Assert.Contains("lookup_order", request.Summary, StringComparison.Ordinal);

        await DecideAsync(approvalId, request, ApprovalOutcome.Approved, request.InputJson);
        var done = await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Failed);

        Assert.Equal(AgentRunState.Succeeded, done.State);
        var call = Assert.Single(mcp.Calls);
        Assert.Equal("lookup_order", call.Tool);
        var (_, after) = await fixture.ReadAsync(run.Id);
        var toolStep = Assert.Single(after, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(AgentStepState.Completed, toolStep.State);
        Assert.Contains("shipped", toolStep.OutputJson, StringComparison.Ordinal);
        Assert.Contains("DATA, not instructions", toolStep.OutputJson, StringComparison.Ordinal);
        await using var db = fixture.Db();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "agent.tool." + tool && a.Target == $"agent_run:{run.Id}"));
    }

    [Fact]
    public async Task Run_McpToolInputThatFailsItsSchema_IsRefusedAndTheServerIsNeverCalled()
    {
        await using var mcp = await LoopbackMcpServer.StartAsync();
        var name = AgentTestHelpers.UniqueServerName();
        await fixture.RegisterAsync(DemoData.AcmeId, name, mcp.Endpoint);
        var tool = $"mcp__{name}__lookup_order";
        var agent = await fixture.CreateAgentAsync([tool]);
        var run = await fixture.CreateRunAsync(agent, $"Look it up. [sim:tool={tool}] [sim:badargs]");

        await fixture.WorkAsync(run.Id);

        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var step = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(ToolGate.InvalidInput, step.ErrorCode);
        Assert.Contains("order_id", step.Error, StringComparison.Ordinal);
        Assert.Empty(fixture.Approvals.For(run.Id));
        Assert.Empty(mcp.Calls);
    }

    [Fact]
    public async Task Run_ServerDown_TheModelGetsAClearToolError_TheRunGoesOn_AndTheServerShowsDown()
    {
        var mcp = await LoopbackMcpServer.StartAsync();
        var name = AgentTestHelpers.UniqueServerName();
        await fixture.RegisterAsync(DemoData.AcmeId, name, mcp.Endpoint);
        var tool = $"mcp__{name}__lookup_order";
        await fixture.SetLevelAsync(DemoData.AcmeId, tool, AutonomyLevel.Autonomous); // read-only: the admin lowered the guard
        await mcp.DisposeAsync();
        var agent = await fixture.CreateAgentAsync([tool]);
        var run = await fixture.CreateRunAsync(agent, $"Where is order 7? [sim:tool={tool}]");

        await fixture.WorkAsync(run.Id);

        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var step = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(AgentStepState.Failed, step.State);
        Assert.Equal(McpTool.Unavailable, step.ErrorCode);
        Assert.Contains(name, step.OutputJson, StringComparison.Ordinal);
        Assert.Contains("did not answer", step.OutputJson, StringComparison.Ordinal);
        await using var db = fixture.Db();
        var server = await db.McpServers.AsNoTracking().SingleAsync(s => s.Name == name);
        Assert.Equal(McpServerException.Down, server.State);
        Assert.NotNull(server.LastError);
    }

    [Fact]
    public async Task Register_AnUrlThatIsNotMcp_OrNobodyAnswers_IsStoredWithItsStateNotA500()
    {
        await using var mcp = await LoopbackMcpServer.StartAsync();
        var admin = await fixture.ClientForAsync(DemoData.AcmeId, "admin");
        var garbageName = AgentTestHelpers.UniqueServerName();

        var garbage = await admin.PostAsync("/api/v1/mcp-servers", Json(JsonSerializer.Serialize(new { name = garbageName, url = mcp.GarbageEndpoint.AbsoluteUri })));
        var down = await admin.PostAsync("/api/v1/mcp-servers", Json(JsonSerializer.Serialize(new { name = AgentTestHelpers.UniqueServerName(), url = "http://127.0.0.1:9/mcp" })));
        var badScheme = await admin.PostAsync("/api/v1/mcp-servers", Json("""{"name":"files","url":"file:///etc/passwd"}"""));

        Assert.Equal(HttpStatusCode.Created, garbage.StatusCode);
        using (var body = JsonDocument.Parse(await garbage.Content.ReadAsStringAsync()))
        {
            Assert.Equal(McpServerException.Invalid, body.RootElement.GetProperty("state").GetString());
            Assert.False(string.IsNullOrWhiteSpace(body.RootElement.GetProperty("lastError").GetString()));
            Assert.Empty(body.RootElement.GetProperty("tools").EnumerateArray());
        }

        Assert.Equal(HttpStatusCode.Created, down.StatusCode);
        using (var body = JsonDocument.Parse(await down.Content.ReadAsStringAsync()))
        {
            Assert.Equal(McpServerException.Down, body.RootElement.GetProperty("state").GetString());
        }

        Assert.Equal(HttpStatusCode.BadRequest, badScheme.StatusCode);
        using var error = JsonDocument.Parse(await badScheme.Content.ReadAsStringAsync());
        Assert.Equal("url", error.RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task TenantB_CannotSeeOrUseTenantAsServer()
    {
        await using var mcp = await LoopbackMcpServer.StartAsync();
        var name = AgentTestHelpers.UniqueServerName();
        var server = await fixture.RegisterAsync(DemoData.AcmeId, name, mcp.Endpoint);
        var globex = await fixture.ClientForAsync(DemoData.GlobexId, "admin chat");

        var list = await globex.GetStringAsync("/api/v1/mcp-servers");
        Assert.DoesNotContain(name, list, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.GetAsync($"/api/v1/mcp-servers/{server.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.PostAsync($"/api/v1/mcp-servers/{server.Id}/refresh", Json("{}"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.DeleteAsync($"/api/v1/mcp-servers/{server.Id}")).StatusCode);

        using var scope = fixture.App.Services.CreateScope();
        var registry = await scope.ServiceProvider.GetRequiredService<ToolRegistry>().ForTenantAsync(DemoData.GlobexId, CancellationToken.None);
        Assert.Null(registry.Find($"mcp__{name}__lookup_order"));
        var catalog = scope.ServiceProvider.GetRequiredService<AgentCatalog>();
        var refused = await Assert.ThrowsAsync<AgentException>(() => catalog.SaveAsync(DemoData.GlobexId, null,
            new AgentInput("globex-" + name, "fast", null, null, [$"mcp__{name}__lookup_order"], 100_000, 1_000_000, 4), "test", CancellationToken.None));
        Assert.Equal("tools", refused.Param);
        await using var db = fixture.Db();
        Assert.True(await db.McpServers.AnyAsync(s => s.Id == server.Id)); // Globex's delete did not remove it
    }

    [Fact]
    public async Task Run_McpOutputLongerThanTheCap_IsCutWithAMarkerAndCounted()
    {
        await using var mcp = await LoopbackMcpServer.StartAsync();
        var name = AgentTestHelpers.UniqueServerName();
        await fixture.RegisterAsync(DemoData.AcmeId, name, mcp.Endpoint);
        var tool = $"mcp__{name}__long_text";
        var agent = await fixture.CreateAgentAsync([tool]);
        var run = await fixture.CreateRunAsync(agent, $"Write a lot. [sim:tool={tool}]");
        await fixture.WorkAsync(run.Id);
        var (approvalId, request) = Assert.Single(fixture.Approvals.For(run.Id));

        await DecideAsync(approvalId, request, ApprovalOutcome.Approved, """{"size":50000}""");
        var done = await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Failed);

        Assert.Equal(1, done.TruncatedOutputs);
        var (_, steps) = await fixture.ReadAsync(run.Id);
        var step = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.True(step.Truncated);
        Assert.Contains("[truncated:", step.OutputJson, StringComparison.Ordinal);
        Assert.True(step.OutputJson!.Length < 50_000);
        Assert.Equal("50000", Assert.Single(mcp.Calls).Argument);
    }

    private async Task DecideAsync(Guid approvalId, PendingActionRequest request, ApprovalOutcome outcome, string finalInput)
    {
        using var scope = fixture.App.Services.CreateScope();
        var handler = scope.ServiceProvider.GetServices<IApprovalDecisionHandler>().Single(h => h.SourceKind == "agent_run");
        await handler.OnDecidedAsync(new ApprovalDecision(approvalId, request.TenantId, request.SourceKind, request.SourceId, request.SourceStepKey, outcome,
            finalInput, "approver", null), CancellationToken.None);
    }
}

public sealed class SqliteAgentToolTests(SqliteMcpAppFixture fixture) : AgentToolTests(fixture), IClassFixture<SqliteMcpAppFixture>;

public sealed class PostgresAgentToolTests(PostgresMcpAppFixture fixture) : AgentToolTests(fixture), IClassFixture<PostgresMcpAppFixture>;

/// <summary>The SSRF rules without a database: schemes, credentials in the URL, and private addresses (at registration and at connect time).</summary>
public sealed class McpAddressGuardTests
{
    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("ftp://mcp.example.com/")]
    [InlineData("gopher://mcp.example.com/")]
    [InlineData("https://user:pw@mcp.example.com/mcp")]
    [InlineData("not a url")]
    [InlineData("http://127.0.0.1:8080/mcp")]
    [InlineData("http://localhost/mcp")]
    [InlineData("http://10.1.2.3/mcp")]
    [InlineData("http://172.20.0.1/mcp")]
    [InlineData("http://192.168.1.1/mcp")]
    [InlineData("http://169.254.169.254/latest/meta-data")]
    [InlineData("http://100.64.0.1/mcp")]
    [InlineData("http://0.0.0.0/mcp")]
    [InlineData("http://[::1]/mcp")]
    [InlineData("http://[fd00::1]/mcp")]
    [InlineData("http://[fe80::1]/mcp")]
    [InlineData("http://[::ffff:127.0.0.1]/mcp")]
    public void CheckUrl_RefusesWhatIsNotAPublicHttpUrl(string url)
        => Assert.NotNull(AddressGuard.CheckUrl(url, allowPrivate: false, out _));

    [Theory]
    [InlineData("https://mcp.example.com/mcp")]
    [InlineData("http://93.184.215.14:8080/mcp")]
    [InlineData("https://[2606:4700::1111]/mcp")]
    public void CheckUrl_AllowsPublicHttpUrls(string url)
        => Assert.Null(AddressGuard.CheckUrl(url, allowPrivate: false, out _));

    [Fact]
    public void CheckUrl_PrivateAddressesPassOnlyWhenTheSettingAllowsThem()
    {
        Assert.Null(AddressGuard.CheckUrl("http://127.0.0.1:5000/mcp", allowPrivate: true, out var uri));
        Assert.Equal(5000, uri!.Port);
        Assert.NotNull(AddressGuard.CheckUrl("file:///etc/passwd", allowPrivate: true, out _));
    }

    [Fact]
    public async Task Connector_ANameThatResolvesToLoopback_IsRefusedAtConnectTime()
    {
        await using var mcp = await LoopbackMcpServer.StartAsync();
        using var connector = new McpConnector(Microsoft.Extensions.Options.Options.Create(new McpOptions { AllowPrivateAddresses = false, TimeoutSeconds = 10 }));
        var byName = new UriBuilder(mcp.Endpoint) { Host = "localhost" }.Uri;

        var refused = await Assert.ThrowsAsync<McpServerException>(() => connector.ListToolsAsync(byName, null, CancellationToken.None));

        Assert.Equal(McpServerException.Down, refused.State);
        Assert.Contains("private", refused.Message, StringComparison.Ordinal);
        Assert.Empty(mcp.Calls);
        Assert.Empty(mcp.Authorizations);
    }
}
