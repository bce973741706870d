using Keystone.Gateway.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>
/// Rate limits across instances (decision 20): two gateways over one real PostgreSQL database share their counts
/// through <c>rate_limit_counts</c>; on SQLite (one instance) the exchange does nothing.
/// </summary>
public sealed class RateLimitSyncTests
{
    private static readonly Dictionary<string, string?> Settings = new(GatewayHarness.InstantSim)
    {
        ["Gateway:UserRequestsPerMinute"] = "10",
    };

    private static Task<ChatResult> AskAsync(GatewayHarness gateway, Guid tenant, string user)
        => gateway.Gateway.CompleteAsync(GatewayHarness.Chat("hello"), new CallContext { TenantId = tenant, EndUser = user }, CancellationToken.None);

    private static Task SyncAsync(GatewayHarness gateway) => gateway.Services.GetRequiredService<RateLimitSync>().SyncAsync(CancellationToken.None);

    [Fact]
    public async Task Complete_TwoInstancesOnPostgres_ShareOneLimitPerUser()
    {
        await using var pg = await PostgresTestDatabase.CreateAsync();
        var factory = pg.CreateFactory();
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "acme");
        await using var a = await GatewayHarness.CreateAsync(factory, Settings);
        await using var b = await GatewayHarness.CreateAsync(factory, Settings);
        for (var i = 0; i < 8; i++)
        {
            await AskAsync(a, tenant, "alice@example.com");
        }

        await SyncAsync(a);
        await SyncAsync(b);

        // Instance b knows of a's 8: two more, then the user's limit of 10 is reached on both.
        await AskAsync(b, tenant, "alice@example.com");
        await AskAsync(b, tenant, "alice@example.com");
        var refused = await Assert.ThrowsAsync<GatewayException>(() => AskAsync(b, tenant, "alice@example.com"));
        Assert.Equal(GatewayErrorCodes.RateLimitExceeded, refused.Error.Code);
        await SyncAsync(b);
        await SyncAsync(a);
        await Assert.ThrowsAsync<GatewayException>(() => AskAsync(a, tenant, "alice@example.com"));
        // Another user's window is untouched.
        await AskAsync(a, tenant, "bob@example.com");

        await using var db = factory.ForSystem();
        var rows = await db.RateLimitCounts.AsNoTracking().ToListAsync();
        Assert.Equal(10, rows.Where(r => r.Key == RequestRateLimiter.SharedKeyOf($"u:{tenant:N}:alice@example.com")).Sum(r => r.Count));
        Assert.DoesNotContain(rows, r => r.Key.Contains("alice", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HostedService_OnPostgres_SharesCountsEveryInterval()
    {
        await using var pg = await PostgresTestDatabase.CreateAsync();
        var factory = pg.CreateFactory();
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "acme");
        await using var gateway = await GatewayHarness.CreateAsync(factory, new Dictionary<string, string?>(Settings)
        {
            ["Gateway:RateLimitSyncInterval"] = "00:00:00.050",
        });
        var sync = gateway.Services.GetRequiredService<RateLimitSync>();
        await sync.StartAsync(CancellationToken.None);
        try
        {
            await AskAsync(gateway, tenant, "alice@example.com");
            await AskAsync(gateway, tenant, "alice@example.com");

            // Nobody calls SyncAsync here: the service's own loop must write the count within a few intervals.
            var key = RequestRateLimiter.SharedKeyOf($"u:{tenant:N}:alice@example.com");
            var deadline = DateTime.UtcNow.AddSeconds(10);
            int? written = null;
            while (written != 2 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
                await using var db = factory.ForSystem();
                written = await db.RateLimitCounts.Where(r => r.Key == key && r.InstanceId == sync.InstanceId).SumAsync(r => (int?)r.Count);
            }

            Assert.Equal(2, written);
        }
        finally
        {
            await sync.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task SyncAsync_OnSqlite_WritesNothingAndLimitsStayLocal()
    {
        await using var sqlite = await SqliteTestDatabase.CreateAsync();
        var factory = sqlite.CreateFactory();
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "acme");
        await using var gateway = await GatewayHarness.CreateAsync(factory, Settings);
        await AskAsync(gateway, tenant, "alice@example.com");

        await SyncAsync(gateway);

        await using var db = factory.ForSystem();
        Assert.Equal(0, await db.RateLimitCounts.CountAsync());
    }
}
