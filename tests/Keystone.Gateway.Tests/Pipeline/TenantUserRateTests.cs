using Keystone.Testing;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>
/// A tenant's own requests per minute per user (the budgets page, <c>PUT /api/v1/budgets</c>) replaces the platform's
/// <c>Gateway:UserRequestsPerMinute</c> for that tenant only, from the next call, and null gives the platform's back.
/// On both databases: the setting is stored by an upsert whose null must reach the column on each.
/// </summary>
public sealed class TenantUserRateTests
{
    private static readonly Dictionary<string, string?> Settings = new(GatewayHarness.InstantSim)
    {
        ["Gateway:UserRequestsPerMinute"] = "5",
    };

    private static Task<ChatResult> AskAsync(GatewayHarness gateway, Guid tenant, string user)
        => gateway.Gateway.CompleteAsync(GatewayHarness.Chat("hello"), new CallContext { TenantId = tenant, EndUser = user }, CancellationToken.None);

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Complete_TenantSetsTighterUserRate_ItsUserIsRefusedAtItWhileAnotherTenantsIsNot(string provider)
    {
        await using IAsyncDisposable database = provider == "Postgres" ? await PostgresTestDatabase.CreateAsync() : await SqliteTestDatabase.CreateAsync();
        var factory = database is PostgresTestDatabase pg ? pg.CreateFactory() : ((SqliteTestDatabase)database).CreateFactory();
        var strict = await GatewayHarness.CreateTenantAsync(factory, "strict");
        var other = await GatewayHarness.CreateTenantAsync(factory, "other");
        await using var gateway = await GatewayHarness.CreateAsync(factory, Settings);
        // Loaded once before the change, so the change has to drop the cached snapshot to apply.
        await AskAsync(gateway, strict, "warm-up");

        var set = await gateway.Budgets.SetAsync(strict, [], null, null, new UserRateChange(2), CancellationToken.None);

        Assert.Equal(2, set.UserRequestsPerMinute);
        await AskAsync(gateway, strict, "alice");
        await AskAsync(gateway, strict, "alice");
        var refused = await Assert.ThrowsAsync<GatewayException>(() => AskAsync(gateway, strict, "alice"));
        Assert.Equal(GatewayErrorCodes.RateLimitExceeded, refused.Error.Code);
        Assert.Equal(429, refused.Error.HttpStatus);
        Assert.Contains("limit of 2 requests per minute", refused.Error.Message, StringComparison.Ordinal);
        // The same user name in a tenant without a setting has the platform's 5.
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(Data.Calls.CallStatus.Ok, (await AskAsync(gateway, other, "alice")).Outcome.Status);
        }

        // Back to the platform's default: alice's two counted calls leave three of its five.
        var cleared = await gateway.Budgets.SetAsync(strict, [], null, null, new UserRateChange(null), CancellationToken.None);
        Assert.Null(cleared.UserRequestsPerMinute);
        Assert.Equal(Data.Calls.CallStatus.Ok, (await AskAsync(gateway, strict, "alice")).Outcome.Status);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1_000_001)]
    public async Task SetAsync_UserRateOutOfBounds_Is400NamingTheFieldAndStoresNothing(int rpm)
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var factory = db.CreateFactory();
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "bounds");
        await using var gateway = await GatewayHarness.CreateAsync(factory, Settings);

        var ex = await Assert.ThrowsAsync<GatewayException>(() =>
            gateway.Budgets.SetAsync(tenant, [], null, null, new UserRateChange(rpm), CancellationToken.None));

        Assert.Equal((400, "userRequestsPerMinute"), (ex.Error.HttpStatus, ex.Error.Param));
        Assert.Null((await gateway.Budgets.GetAsync(tenant, CancellationToken.None)).UserRequestsPerMinute);
    }
}
