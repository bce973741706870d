using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Testing;
using Keystone.Web.Features.Traces;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Traces;

/// <summary>The retention job on one database; run on SQLite and PostgreSQL by the subclasses below.</summary>
public abstract class TraceRetentionJobTests : IAsyncLifetime
{
    private IAsyncDisposable? _database;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(T0.AddDays(40)));

    protected KeystoneDbFactory Factory { get; private set; } = default!;

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        (_database, Factory) = await CreateDatabaseAsync();
        await SeedTenantsAsync(Factory);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    private protected TraceRetentionJob Job(int rawDays = 7, int redactedDays = 30) => new(Factory,
        Factory.Provider == DatabaseProvider.Postgres ? new PostgresTraceIndexCleanup() : new SqliteTraceIndexCleanup(),
        Microsoft.Extensions.Options.Options.Create(new TracesOptions { RawDays = rawDays, RedactedDays = redactedDays }),
        _clock, NullLogger<TraceRetentionJob>.Instance);

    protected DateTime DaysAgo(double days) => _clock.GetUtcNow().UtcDateTime.AddDays(-days);

    [Fact]
    public async Task Run_DefaultWindows_DropsRawAfterRawDaysAndTracesAfterRedactedDaysButKeepsCalls()
    {
        var fresh = Call(Acme, DaysAgo(1), prompt: "fresh words");
        var middle = Call(Acme, DaysAgo(10), prompt: "middle words");
        var old = Call(Acme, DaysAgo(31), prompt: "ancient words");
        await AddAsync(Factory, fresh, middle, old);

        var result = await Job().RunAsync(CancellationToken.None);

        await using var db = Factory.ForSystem();
        var traces = await db.Traces.AsNoTracking().ToDictionaryAsync(t => t.CallId);
        Assert.Equal(new TraceRetentionResult(1, 1), result);
        Assert.NotNull(traces[fresh.Call.Id].RawRequestJson);
        Assert.Null(traces[middle.Call.Id].RawRequestJson);
        Assert.Null(traces[middle.Call.Id].RawResponseJson);
        Assert.NotNull(traces[middle.Call.Id].RequestJson);
        Assert.Equal(_clock.GetUtcNow().UtcDateTime, traces[middle.Call.Id].RawPurgedUtc);
        Assert.False(traces.ContainsKey(old.Call.Id));
        Assert.Equal(3, await db.Calls.CountAsync());
        var search = new TraceQueries(Scoped(Factory, TenantScope.All));
        Assert.Empty((await search.SearchAsync(new TraceFilter { Text = "ancient" }, null, 10, CancellationToken.None)).Rows);
        Assert.Single((await search.SearchAsync(new TraceFilter { Text = "middle" }, null, 10, CancellationToken.None)).Rows);
    }

    [Fact]
    public async Task Run_TenantOverride_UsesTheTenantsOwnWindows()
    {
        var acme = Call(Acme, DaysAgo(20));
        var globex = Call(Globex, DaysAgo(20));
        await AddAsync(Factory, acme, globex);
        await using (var db = Factory.ForSystem())
        {
            db.TraceRetentionPolicies.Add(new TraceRetentionPolicy { TenantId = Globex, RawDays = 30, RedactedDays = 15, UpdatedUtc = T0 });
            await db.SaveChangesAsync();
        }

        await Job().RunAsync(CancellationToken.None);

        await using var check = Factory.ForSystem();
        var acmeTrace = await check.Traces.AsNoTracking().SingleAsync(t => t.CallId == acme.Call.Id);
        Assert.Null(acmeTrace.RawRequestJson);
        Assert.False(await check.Traces.AnyAsync(t => t.CallId == globex.Call.Id));
    }

    [Fact]
    public async Task Run_Twice_SecondRunChangesNothing()
    {
        await AddAsync(Factory, Call(Acme, DaysAgo(10)), Call(Acme, DaysAgo(40)));

        await Job().RunAsync(CancellationToken.None);
        var second = await Job().RunAsync(CancellationToken.None);

        Assert.Equal(new TraceRetentionResult(0, 0), second);
    }

    /// <summary>The database mode's batch writer, as the call recorder has it (payloads packed per batch and tenant, issue 26).</summary>
    private protected abstract Keystone.Gateway.Recording.ICallBatchWriter Writer { get; }

    /// <summary>Stores calls as the call recorder does.</summary>
    private void WritePacked(params (LlmCall Call, LlmTrace Trace)[] rows)
    {
        using var db = Factory.ForSystem();
        Writer.Write(db, [.. rows.Select(r => r.Call)], [.. rows.Select(r => r.Trace)]);
    }

    [Fact]
    public async Task Run_PackedTraces_DropsTheRawPartPastRawDaysAndWholePacksPastRedactedDays()
    {
        var now = DaysAgo(0);
        var fresh = Call(Acme, now.AddDays(-1), prompt: "fresh words", rawPrompt: "fresh secret");
        var middle = Call(Acme, now.AddDays(-10), prompt: "middle words", rawPrompt: "middle secret");
        var old = Call(Acme, now.AddDays(-31), prompt: "ancient words", rawPrompt: "ancient secret");
        // One batch each: a batch's traces share a pack, and packs hold one batch.
        WritePacked(fresh);
        WritePacked(middle);
        WritePacked(old);

        var result = await Job().RunAsync(CancellationToken.None);

        // The old trace row and its pack are gone; the middle pack lost its raw part only; the fresh one is whole.
        Assert.Equal(new TraceRetentionResult(1, 1), result);
        await using var db = Factory.ForSystem();
        Assert.Equal(2, await db.Set<LlmTracePack>().CountAsync());
        var traces = await TracePayloads.ReadAsync(db, [fresh.Call.Id, middle.Call.Id, old.Call.Id], raw: true, CancellationToken.None);
        Assert.False(traces.ContainsKey(old.Call.Id));
        Assert.Contains("fresh secret", traces[fresh.Call.Id].RawRequestJson, StringComparison.Ordinal);
        Assert.Null(traces[fresh.Call.Id].RawPurgedUtc);
        Assert.Contains("middle words", traces[middle.Call.Id].RequestJson, StringComparison.Ordinal);
        Assert.Null(traces[middle.Call.Id].RawRequestJson);
        Assert.False(traces[middle.Call.Id].HasRaw);
        Assert.Equal(now, traces[middle.Call.Id].RawPurgedUtc);
        Assert.Equal(3, await db.Calls.CountAsync());

        // A second run has nothing left to do.
        Assert.Equal(new TraceRetentionResult(0, 0), await Job().RunAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Run_PackedTracesWithTenantOverride_PurgesOnlyThatTenantsPacksByItsWindows()
    {
        var now = DaysAgo(0);
        var acme = Call(Acme, now.AddDays(-5), prompt: "acme words", rawPrompt: "acme secret");
        var globex = Call(Globex, now.AddDays(-5), prompt: "globex words", rawPrompt: "globex secret");
        WritePacked(acme, globex);
        await using (var db = Factory.ForSystem())
        {
            db.TraceRetentionPolicies.Add(new TraceRetentionPolicy { TenantId = Globex, RawDays = 1, RedactedDays = 3 });
            await db.SaveChangesAsync();
        }

        await Job().RunAsync(CancellationToken.None);

        await using var check = Factory.ForSystem();
        Assert.Equal(new[] { Acme }, await check.Set<LlmTracePack>().Select(p => p.TenantId).ToListAsync());
        var acmeTrace = await TracePayloads.ReadOneAsync(check, acme.Call.Id, raw: true, CancellationToken.None);
        Assert.Contains("acme secret", acmeTrace!.RawRequestJson, StringComparison.Ordinal);
        Assert.Null(await TracePayloads.ReadOneAsync(check, globex.Call.Id, raw: true, CancellationToken.None));
    }
}

public sealed class SqliteTraceRetentionJobTests : TraceRetentionJobTests
{
    private protected override Keystone.Gateway.Recording.ICallBatchWriter Writer { get; } = new Keystone.Gateway.Recording.SqliteCallBatchWriter();

    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}

public sealed class PostgresTraceRetentionJobTests : TraceRetentionJobTests
{
    private protected override Keystone.Gateway.Recording.ICallBatchWriter Writer { get; } = new Keystone.Gateway.Recording.PostgresCallBatchWriter();

    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}
