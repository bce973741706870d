using Keystone.Gateway.Budgets;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;

namespace Keystone.Gateway.Tests.Budgets;

/// <summary>
/// Issue 26: SQLite's budget ledger writes its counters on a thread of its own, never on a thread-pool thread. On SQLite
/// every "async" database call runs synchronously, and a write that meets the lock (the call recorder's batches, the
/// trace indexer's passes) sleeps 150 ms in Microsoft.Data.Sqlite's busy loop on the calling thread; on a pool thread,
/// five times a second, that stalled every request in flight (decision 0059). SQLite only: the PostgreSQL ledger's
/// calls are truly asynchronous and hold no thread while they wait.
/// </summary>
public sealed class BudgetFlushThreadTests
{
    private static bool IsCounterWrite(string sql) => sql.Contains("UPDATE budget_counters", StringComparison.Ordinal);

    [Fact]
    public async Task Counters_PeriodicWriteAndReadAfterACall_RunOnTheLedgersOwnThreadAndTheReadSeesTheSpend()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        using var commands = new DatabaseCommandThreads(db.Directory);
        var gateway = await GatewayHarness.CreateAsync(db.CreateFactory());
        try
        {
            var tenant = await GatewayHarness.CreateTenantAsync(db.CreateFactory(), "flush-thread");
            await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Month, 1_000_000_000)], null, null,
                CancellationToken.None);

            // A call reserves and settles in memory; the periodic write takes the counters to the database.
            var first = await gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hello"), new CallContext { TenantId = tenant }, CancellationToken.None);
            await commands.WaitForAsync(IsCounterWrite, TimeSpan.FromSeconds(30));

            // A budget read (the console's, the API's) asks for a write first, from a pool thread: the write still runs on
            // the ledger's thread, and the read waits for it, so it shows the call just made.
            var second = await gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hello again"), new CallContext { TenantId = tenant }, CancellationToken.None);
            var budget = await Task.Run(() => gateway.Budgets.GetAsync(tenant, CancellationToken.None));

            var cap = Assert.Single(budget.Caps);
            Assert.True(first.Outcome.CostMicros > 0, "the simulated model is priced");
            Assert.Equal(first.Outcome.CostMicros + second.Outcome.CostMicros, cap.SpentMicros);
            Assert.Equal(0, cap.ReservedMicros);
            var writes = commands.Where(IsCounterWrite);
            Assert.NotEmpty(writes);
            Assert.All(writes, w =>
            {
                Assert.False(w.PoolThread, "a counter write ran on a thread-pool thread");
                Assert.Equal(SqliteBudgetLedger.FlushThreadName, w.ThreadName);
            });
        }
        finally
        {
            await gateway.Services.DisposeAsync();
        }
    }
}
