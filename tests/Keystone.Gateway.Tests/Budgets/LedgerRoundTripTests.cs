using Keystone.Data;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Gateway.Tests.Budgets;

/// <summary>
/// The ledger's own semantics, below the pipeline: a reservation on several caps is all or nothing, and a settlement
/// counts once, whatever it finds. On PostgreSQL a reservation is one batch (every cap's conditional UPDATE and its rows)
/// then COMMIT or ROLLBACK, and a settlement one statement per cap in one batch (decision 62): these pin what the
/// statements must still do.
/// </summary>
public sealed class LedgerRoundTripTests
{
    public static TheoryData<string> Databases => new() { "sqlite", "postgres" };

    [Theory]
    [MemberData(nameof(Databases))]
    public async Task Reserve_OneOfTwoCapsRefuses_NeitherCapHoldsAnything_AndTheRefusalNamesTheFullOne(string database)
    {
        await using var db = await OpenAsync(database);
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory);
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "both-or-none");
        await gateway.Budgets.SetAsync(tenant, [
            new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 10_000),
            new BudgetCapInput(BudgetScope.Feature, "search", BudgetPeriod.Day, 1_000)], null, null, CancellationToken.None);
        var ledger = gateway.Services.GetRequiredService<BudgetLedger>();
        var snapshot = await gateway.Services.GetRequiredService<TenantSettings>().GetAsync(tenant, CancellationToken.None);
        var both = BudgetLedger.Applicable(snapshot, new CallContext { TenantId = tenant, Feature = "search" });
        var tenantOnly = BudgetLedger.Applicable(snapshot, new CallContext { TenantId = tenant });
        Assert.Equal(2, both.Count);

        var first = await ledger.ReserveAsync(tenant, Guid.NewGuid(), both, 800, CancellationToken.None);
        var second = await ledger.ReserveAsync(tenant, Guid.NewGuid(), tenantOnly, 5_000, CancellationToken.None);
        // Fits the tenant cap (5,800 + 300 of 10,000), not the feature's (800 + 300 of 1,000): whichever cap's UPDATE runs
        // first, the tenant's must not keep the 300.
        var refused = await ledger.ReserveAsync(tenant, Guid.NewGuid(), both, 300, CancellationToken.None);
        await ledger.FlushAsync(CancellationToken.None);

        Assert.NotNull(first.Reservation);
        Assert.NotNull(second.Reservation);
        Assert.Null(refused.Reservation);
        Assert.Equal(BudgetScope.Feature, refused.Rejection!.Cap.Scope);
        Assert.Equal(1_000, refused.Rejection.Cap.LimitMicros);
        Assert.Equal((0L, 800L), (refused.Rejection.SpentMicros, refused.Rejection.ReservedMicros));
        Assert.Equal(new Dictionary<string, (long, long)> { ["tenant"] = (0, 5_800), ["feature"] = (0, 800) },
            await CountersAsync(db.Factory, tenant));
        if (database == "postgres")
        {
            await using var read = db.Factory.ForTenant(tenant);
            Assert.Equal(3, await read.BudgetReservations.CountAsync());
        }
    }

    [Fact]
    public async Task Settle_OnPostgres_CountsOnce_WhetherTheRowIsOpen_AlreadySettled_OrDroppedAsStale()
    {
        await using var db = await OpenAsync("postgres");
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory);
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "settle-once");
        await gateway.Budgets.SetAsync(tenant, [
            new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 10_000),
            new BudgetCapInput(BudgetScope.Feature, "search", BudgetPeriod.Day, 5_000)], null, null, CancellationToken.None);
        var ledger = gateway.Services.GetRequiredService<BudgetLedger>();
        var snapshot = await gateway.Services.GetRequiredService<TenantSettings>().GetAsync(tenant, CancellationToken.None);
        var caps = BudgetLedger.Applicable(snapshot, new CallContext { TenantId = tenant, Feature = "search" });

        // Open rows: the amount leaves reserved and the cost is spent, on both caps; the rows are marked settled.
        var x = (await ledger.ReserveAsync(tenant, Guid.NewGuid(), caps, 800, CancellationToken.None)).Reservation!;
        Assert.True(await ledger.SettleAsync(x, 500, [], CancellationToken.None));
        var afterFirst = await CountersAsync(db.Factory, tenant);

        // The same settlement again (a retry after a commit whose acknowledgement was lost): nothing moves.
        var retry = new BudgetReservation(tenant, 800, x.Caps, x.CallId, x.CreatedUtc);
        Assert.True(await ledger.SettleAsync(retry, 500, [], CancellationToken.None));
        var afterRetry = await CountersAsync(db.Factory, tenant);

        // A reservation the reconciler dropped as stale (its rows gone, its amount already out of reserved): the settlement
        // adds the spend alone.
        var y = (await ledger.ReserveAsync(tenant, Guid.NewGuid(), caps, 200, CancellationToken.None)).Reservation!;
        await using (var reconciler = db.Factory.ForSystem())
        {
            await reconciler.Database.ExecuteSqlAsync($"DELETE FROM budget_reservations WHERE call_id = {y.CallId}");
            await reconciler.Database.ExecuteSqlAsync($"UPDATE budget_counters SET reserved_micros = reserved_micros - 200");
        }

        Assert.True(await ledger.SettleAsync(y, 150, [], CancellationToken.None));
        var afterStale = await CountersAsync(db.Factory, tenant);

        Assert.Equal(new Dictionary<string, (long, long)> { ["tenant"] = (500, 0), ["feature"] = (500, 0) }, afterFirst);
        Assert.Equal(afterFirst, afterRetry);
        Assert.Equal(new Dictionary<string, (long, long)> { ["tenant"] = (650, 0), ["feature"] = (650, 0) }, afterStale);
        await using var read = db.Factory.ForTenant(tenant);
        var rows = await read.BudgetReservations.AsNoTracking().Where(r => r.CallId == x.CallId).ToListAsync();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, row => Assert.Equal(500, row.SettledMicros));
        Assert.False(await read.BudgetReservations.AnyAsync(r => r.CallId == y.CallId));
    }

    /// <summary>Spent and reserved per cap scope of the tenant's current counters.</summary>
    private static async Task<Dictionary<string, (long, long)>> CountersAsync(KeystoneDbFactory factory, Guid tenant)
    {
        await using var read = factory.ForTenant(tenant);
        var rows = await (from c in read.BudgetCounters.AsNoTracking()
                          join b in read.Budgets.AsNoTracking() on c.BudgetId equals b.Id
                          select new { b.Scope, c.SpentMicros, c.ReservedMicros }).ToListAsync();
        return rows.ToDictionary(r => r.Scope, r => (r.SpentMicros, r.ReservedMicros));
    }

    private static async Task<Db> OpenAsync(string database)
    {
        if (database == "postgres")
        {
            var pg = await PostgresTestDatabase.CreateAsync();
            return new Db(pg, pg.CreateFactory());
        }

        var sqlite = await SqliteTestDatabase.CreateAsync();
        return new Db(sqlite, sqlite.CreateFactory());
    }

    private sealed record Db(IAsyncDisposable Owner, KeystoneDbFactory Factory) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Owner.DisposeAsync();
    }
}
