using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Testing;
using Keystone.Web.Features.Prompts;
using Microsoft.Extensions.Time.Testing;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Prompts;

/// <summary>A prompt's real traffic on one database; run on SQLite and on PostgreSQL by the two subclasses below.</summary>
public abstract class PromptTrafficQueriesTests : IAsyncLifetime
{
    private IAsyncDisposable? _database;
    private KeystoneDbFactory _factory = default!;
    private readonly FakeTimeProvider _clock = new(T0.AddDays(10));

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        (_database, _factory) = await CreateDatabaseAsync();
        await SeedTenantsAsync(_factory);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task Version_LastSevenDaysAcrossTenants_CountsAndSumsOnlyThatVersionInTheWindow()
    {
        var v1 = Guid.NewGuid();
        var v2 = Guid.NewGuid();
        var now = _clock.GetUtcNow().UtcDateTime;
        await AddAsync(_factory,
            Call(Acme, now.AddDays(-1), configure: c => { c.PromptName = "reply"; c.PromptVersionId = v1; c.CostMicros = 1_000; c.InputTokens = 100; c.CachedInputTokens = 40; }),
            Call(Globex, now.AddDays(-6.9), configure: c => { c.PromptName = "reply"; c.PromptVersionId = v1; c.CostMicros = 2_500; c.InputTokens = 300; }),
            Call(Acme, now.AddDays(-7.1), configure: c => { c.PromptName = "reply"; c.PromptVersionId = v1; c.CostMicros = 9_999; }),
            Call(Acme, now.AddDays(-1), configure: c => { c.PromptName = "reply"; c.PromptVersionId = v2; c.CostMicros = 7_777; }));

        var traffic = await new PromptTrafficQueries(_factory, _clock).VersionAsync(v1, 7, CancellationToken.None);

        Assert.Equal(new PromptTraffic(2, 3_500, 400, 40, 7), traffic);
    }

    [Fact]
    public async Task ProviderCalls_PromptOver30Days_LeavesOutGatewayCacheHitsRejectionsAndOtherPrompts()
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        await AddAsync(_factory,
            Call(Acme, now.AddDays(-29), configure: c => { c.PromptName = "reply"; c.CostMicros = 100; c.InputTokens = 10; }),
            Call(Globex, now.AddDays(-2), configure: c => { c.PromptName = "reply"; c.CostMicros = 200; c.InputTokens = 20; }),
            Call(Acme, now.AddDays(-2), configure: c => { c.PromptName = "reply"; c.CacheStatus = CacheStatus.Exact; c.CostMicros = 0; c.InputTokens = 30; }),
            Call(Acme, now.AddDays(-2), configure: c => { c.PromptName = "reply"; c.Status = CallStatus.Rejected; c.InputTokens = 40; }),
            Call(Acme, now.AddDays(-2), configure: c => { c.PromptName = "other"; c.CostMicros = 500; c.InputTokens = 50; }));

        var traffic = await new PromptTrafficQueries(_factory, _clock).ProviderCallsAsync("Reply", 30, CancellationToken.None);

        Assert.Equal(new PromptTraffic(2, 300, 30, 0, 30), traffic);
    }

    [Fact]
    public async Task Version_NoCalls_IsZero()
    {
        var traffic = await new PromptTrafficQueries(_factory, _clock).VersionAsync(Guid.NewGuid(), 7, CancellationToken.None);

        Assert.Equal(PromptTraffic.None(7), traffic);
    }
}

public sealed class SqlitePromptTrafficQueriesTests : PromptTrafficQueriesTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}

public sealed class PostgresPromptTrafficQueriesTests : PromptTrafficQueriesTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}
