using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Api;
using Keystone.Web.Tests.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Agents;

/// <summary>
/// The per-tenant MCP server limit holds under concurrent writers (issue 25's follow-up, item 2): thirty registrations of
/// different names at once, under a limit of three, store exactly three, and every other writer is answered 409 with
/// the limit in words. SQLite and PostgreSQL.
/// </summary>
public abstract class McpServerLimitTests(WritesAppFixture fixture)
{
    public const int Limit = 3;

    private const int Writers = 30;

    [Fact]
    public async Task Register_ThirtyDifferentNamesAtOnce_ExactlyTheLimitIsStoredAndTheRestAre409()
    {
        await using var mcp = await LoopbackMcpServer.StartAsync();
        var run = "l" + Guid.NewGuid().ToString("N")[..8];
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var writers = Enumerable.Range(0, Writers).Select(async i =>
        {
            await start.Task;
            using var response = await fixture.Client().PostAsync("/api/v1/mcp-servers",
                new StringContent($$"""{"name":"{{run}}-{{i}}","url":"{{mcp.Endpoint.AbsoluteUri}}"}""", Encoding.UTF8, "application/json"));
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return (response.StatusCode, Body: doc.RootElement.Clone());
        }).ToList();
        start.SetResult();
        var answers = await Task.WhenAll(writers);

        var created = answers.Where(a => a.StatusCode == HttpStatusCode.Created).Select(a => a.Body.GetProperty("id").GetGuid()).ToList();
        Assert.Equal(Limit, created.Count);
        Assert.All(answers.Where(a => a.StatusCode != HttpStatusCode.Created), a =>
        {
            Assert.Equal(HttpStatusCode.Conflict, a.StatusCode);
            Assert.Equal("conflict", a.Body.GetProperty("error").GetProperty("code").GetString());
            Assert.Contains($"already has {Limit} MCP servers", a.Body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        });
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.McpServers.AsNoTracking().Where(s => s.TenantId == DemoData.AcmeId).Select(s => s.Id).ToListAsync();
        Assert.Equal(created.Order(), stored.Order());
        Assert.Equal(Limit, await db.AuditLog.CountAsync(a => a.Action == "mcp_server.register" && a.TenantId == DemoData.AcmeId));
    }
}

public sealed class SqliteMcpLimitFixture : WritesAppFixture
{
    protected override Task<KeystoneAppFactory> CreateAppAsync()
        => Task.FromResult(new KeystoneAppFactory().WithSetting("Agents:Mcp:MaxServersPerTenant", McpServerLimitTests.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}

public sealed class PostgresMcpLimitFixture : WritesAppFixture
{
    private PostgresTestDatabase _db = default!;

    protected override async Task<KeystoneAppFactory> CreateAppAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        HangfireSetup.InstallPostgresSchema(_db.Connections);
        return new KeystoneAppFactory()
            .WithSetting("Database:Provider", "Postgres")
            .WithSetting("ConnectionStrings:Postgres", _db.AppConnectionString)
            .WithSetting("ConnectionStrings:PostgresMigrator", _db.OwnerConnectionString)
            .WithSetting("Agents:Mcp:MaxServersPerTenant", McpServerLimitTests.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _db.DisposeAsync();
    }
}

public sealed class SqliteMcpServerLimitTests(SqliteMcpLimitFixture fixture) : McpServerLimitTests(fixture), IClassFixture<SqliteMcpLimitFixture>;

public sealed class PostgresMcpServerLimitTests(PostgresMcpLimitFixture fixture) : McpServerLimitTests(fixture), IClassFixture<PostgresMcpLimitFixture>;
