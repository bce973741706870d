using System.Net.Http.Headers;
using Keystone.Data.Keys;
using Keystone.Testing;
using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Agents.Mcp;
using Keystone.Web.Hosting;
using Keystone.Web.Tests.Data;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary>
/// The agents app with MCP servers on loopback allowed (<c>Agents:Mcp:AllowPrivateAddresses</c>): the test servers listen on
/// 127.0.0.1, which the product refuses by default.
/// </summary>
public sealed class SqliteMcpAppFixture : AgentAppFixture
{
    protected override Task<KeystoneAppFactory> CreateAppAsync()
    {
        // Hangfire's log provider is process-global; a disposed host's logger factory must not be the one this host's
        // job client picks up (the PostgreSQL fixtures do the same).
        return Task.FromResult(new KeystoneAppFactory().WithSetting("Agents:Mcp:AllowPrivateAddresses", "true"));
    }
}

public sealed class PostgresMcpAppFixture : AgentAppFixture
{
    private PostgresTestDatabase? _db;

    protected override async Task<KeystoneAppFactory> CreateAppAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        HangfireSetup.InstallPostgresSchema(_db.Connections);
        return new KeystoneAppFactory()
            .WithSetting("Database:Provider", "Postgres")
            .WithSetting("ConnectionStrings:Postgres", _db.AppConnectionString)
            .WithSetting("ConnectionStrings:PostgresMigrator", _db.OwnerConnectionString)
            .WithSetting("Agents:Mcp:AllowPrivateAddresses", "true");
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_db is not null)
        {
            await _db.DisposeAsync();
        }
    }
}

/// <summary>Helpers the MCP, search and undo tests share.</summary>
internal static class AgentTestHelpers
{
    /// <summary>A server name no other test uses (lower-case letters and digits: the simulated model's marker takes no hyphen).</summary>
    public static string UniqueServerName() => "s" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>Registers a server for a tenant as its admin would on the agents page.</summary>
    public static async Task<McpServerView> RegisterAsync(this AgentAppFixture f, Guid tenantId, string name, Uri url, string? authorization = null)
    {
        using var scope = f.App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<McpServerCatalog>().RegisterAsync(tenantId, new McpServerInput(name, url.AbsoluteUri, authorization),
            "test-admin", CancellationToken.None);
    }

    /// <summary>Sets a tenant's level for a tool as its admin would.</summary>
    public static async Task SetLevelAsync(this AgentAppFixture f, Guid tenantId, string tool, Keystone.Web.Features.Agents.Tools.AutonomyLevel level)
    {
        using var scope = f.App.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<AgentCatalog>().SetToolLevelAsync(tenantId, tool, level, "test-admin", CancellationToken.None);
    }

    /// <summary>Stores a new key for a tenant (as the console would) and returns a client sending it.</summary>
    public static async Task<HttpClient> ClientForAsync(this AgentAppFixture f, Guid tenantId, string scopes)
    {
        var secret = ApiKeyHasher.NewKey();
        await using (var db = f.Db())
        {
            db.ApiKeys.Add(new ApiKey
            {
                Id = Guid.NewGuid(), TenantId = tenantId, Name = "agents test " + Guid.NewGuid().ToString("N")[..6], Prefix = ApiKeyHasher.PrefixOf(secret),
                Hash = ApiKeyHasher.Hash(secret), Scopes = scopes, CreatedUtc = DateTime.UtcNow,
            });
            await db.SaveChangesAsync();
        }

        f.App.Services.GetRequiredService<Keystone.Gateway.Pipeline.TenantSettings>().Invalidate(tenantId);
        var client = f.App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return client;
    }
}
