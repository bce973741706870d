using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Tests.Budgets;

/// <summary>
/// The budget guarantee under load: with a cap of 20 × one request's worst case and 200 concurrent requests
/// (half streamed), recorded spend never passes the cap and every request that fits is admitted.
/// </summary>
public sealed class BudgetConcurrencyTests
{
    private const int Requests = 200;
    private const int MaxTokens = 8;

    [Fact]
    public async Task Reserve_200ConcurrentRequestsOnSqlite_SpendStaysWithinCapAndExactly20Admitted()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var factory = db.CreateFactory();
        await using var gateway = await GatewayHarness.CreateAsync(factory);

        await RunAsync(factory, [gateway]);
    }

    [Fact]
    public async Task Reserve_200ConcurrentRequestsOnPostgresAcrossTwoInstances_SpendStaysWithinCapAndExactly20Admitted()
    {
        await using var db = await PostgresTestDatabase.CreateAsync();
        await using var first = await GatewayHarness.CreateAsync(Instance(db, "a"));
        await using var second = await GatewayHarness.CreateAsync(Instance(db, "b"));

        await RunAsync(Instance(db, "test"), [first, second]);
    }

    /// <summary>A factory with its own small connection pool, as a separate instance would have (the shared server has few slots).</summary>
    private static KeystoneDbFactory Instance(PostgresTestDatabase db, string name) => new(
        Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres }),
        new KeystoneConnectionStrings
        {
            BaseDirectory = Path.GetTempPath(),
            Postgres = db.AppConnectionString + $";Maximum Pool Size=10;Application Name=keystone-{name}",
        });

    private static async Task RunAsync(KeystoneDbFactory factory, IReadOnlyList<GatewayHarness> instances)
    {
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "load");
        var request = GatewayHarness.Chat("Tell me about budgets.", maxTokens: MaxTokens);
        var price = await instances[0].Services.GetRequiredService<IGatewayPricing>()
            .FindAsync("sim", "sim-fast", DateTime.UtcNow, CancellationToken.None);
        var promptTokens = instances[0].Services.GetRequiredService<IPromptTokenCounter>().CountPrompt(request);
        var worstCase = price!.WorstCaseMicros(promptTokens, MaxTokens);
        Assert.True(worstCase > 0);
        var limit = 20 * worstCase;
        await instances[0].Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, limit)], null, null,
            CancellationToken.None);

        using var start = new ManualResetEventSlim(false);
        var tasks = Enumerable.Range(0, Requests).Select(i => Task.Run(async () =>
        {
            start.Wait();
            var gateway = instances[i % instances.Count];
            var context = new CallContext { TenantId = tenant, Feature = "load" };
            try
            {
                if (i % 2 == 0)
                {
                    var events = await gateway.StreamAllAsync(request, context);
                    return ((StreamCompleted)events[^1]).Result.Outcome.CostMicros;
                }

                return (await gateway.Gateway.CompleteAsync(request, context, CancellationToken.None)).Outcome.CostMicros;
            }
            catch (GatewayException ex) when (ex.Error.Code == GatewayErrorCodes.BudgetExceeded)
            {
                return -1L;
            }
        })).ToList();
        start.Set();
        var results = await Task.WhenAll(tasks);
        foreach (var g in instances)
        {
            await g.FlushAsync();
        }

        var admitted = results.Where(r => r >= 0).ToList();
        await using var read = factory.ForTenant(tenant);
        var counter = await read.BudgetCounters.AsNoTracking().SingleAsync();
        var recorded = await read.Calls.AsNoTracking().Where(c => c.Status == CallStatus.Ok).SumAsync(c => c.CostMicros);
        var rejectedRows = await read.Calls.AsNoTracking().CountAsync(c => c.Status == CallStatus.Rejected && c.ErrorCode == "budget_exceeded");

        Assert.True(counter.SpentMicros <= limit, $"spent {counter.SpentMicros} > limit {limit}");
        Assert.Equal(0, counter.ReservedMicros);
        Assert.Equal(recorded, counter.SpentMicros);
        Assert.Equal(admitted.Sum(), counter.SpentMicros);
        Assert.Equal(Requests - admitted.Count, rejectedRows);
        // The simulated model answers with exactly max_tokens and the counted prompt, so each call costs its worst case:
        // the design then admits exactly the 20 that fit, no fewer (no false rejections) and no more.
        Assert.All(admitted, cost => Assert.Equal(worstCase, cost));
        Assert.Equal(20, admitted.Count);
    }
}
