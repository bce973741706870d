using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Keystone.Gateway.Tests.Budgets;

/// <summary>
/// The money proofs of issue 20, on both databases where the database matters: a model without a price under a cap, an
/// upstream that ignores max_tokens, a crash with reservations in flight followed by a restart, and a settlement the
/// database refuses after the provider answered. Recorded spend stays within the cap, counters agree with the recorded
/// calls, and no answered call goes unrecorded.
/// </summary>
public sealed class MoneyHoldsTests
{
    public static TheoryData<string> Databases => new() { "sqlite", "postgres" };

    /// <summary>A loopback OpenAI-compatible provider <c>up</c>, aliases on a priced and an unpriced model.</summary>
    private static Dictionary<string, string?> Settings(MockOpenAiServer upstream, params (string Key, string? Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Providers:up:Kind"] = "OpenAI",
            ["Gateway:Providers:up:BaseUrl"] = upstream.BaseUrl.ToString(),
            ["Gateway:Providers:up:ApiKey"] = "sk-test",
            ["Gateway:Aliases:priced:0"] = "up/gpt-4o-mini",
            ["Gateway:Aliases:mystery:0"] = "up/unpriced-model-x",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    [Theory]
    [MemberData(nameof(Databases))]
    public async Task Complete_UnpricedModelUnderFeatureCap_ReservesAtFallbackSpendStaysWithinCapAndIsFlagged(string database)
    {
        await using var db = await TestDb.CreateAsync(database);
        await using var upstream = await MockOpenAiServer.StartAsync();
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory, Settings(upstream));
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "unpriced");
        var fallback = await gateway.Services.GetRequiredService<IGatewayPricing>().HighestAsync(embedding: false, CancellationToken.None);
        var request = GatewayHarness.Chat("What does this cost?", model: "mystery", maxTokens: 16);
        var worst = fallback!.WorstCaseMicros(gateway.Services.GetRequiredService<IPromptTokenCounter>().CountPrompt(request), 16);
        var cap = 3 * worst;
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Feature, "chat", BudgetPeriod.Day, cap)], null, null,
            CancellationToken.None);
        var context = new CallContext { TenantId = tenant, Feature = "chat" };

        var answered = 0;
        var refused = 0;
        for (var i = 0; i < 30; i++)
        {
            try
            {
                await gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);
                answered++;
            }
            catch (GatewayException ex) when (ex.Error.Code == GatewayErrorCodes.BudgetExceeded)
            {
                refused++;
            }
        }

        await gateway.FlushAsync();
        await using var read = db.Factory.ForTenant(tenant);
        var ok = await read.Calls.AsNoTracking().Where(c => c.Status == CallStatus.Ok).ToListAsync();
        var counter = await read.BudgetCounters.AsNoTracking().SingleAsync();
        Assert.True(answered > 0);
        Assert.True(refused > 0, "an unpriced model must not be unlimited under a cap");
        Assert.Equal(answered, ok.Count);
        Assert.All(ok, c => Assert.Equal(CostStatus.Fallback, c.CostStatus));
        Assert.All(ok, c => Assert.Equal(fallback.CostMicros(new Usage(12, 5)), c.CostMicros));
        Assert.True(ok.Sum(c => c.CostMicros) <= cap);
        Assert.Equal(ok.Sum(c => c.CostMicros), counter.SpentMicros);
        Assert.Equal(0, counter.ReservedMicros);
        var flagged = Assert.Single(await gateway.Services.GetRequiredService<IUnpricedCalls>()
            .ForTenantAsync(tenant, DateTime.UtcNow.Date, DateTime.UtcNow.Date.AddDays(1), CancellationToken.None));
        Assert.Equal(("up", "unpriced-model-x", (long)answered, false), (flagged.Provider, flagged.Model, flagged.Calls, flagged.PricedNow));
    }

    [Fact]
    public async Task Complete_UnpricedModelWithRefuseSetting_RefusedWithModelNotPricedBeforeTheProvider()
    {
        await using var db = await TestDb.CreateAsync("sqlite");
        await using var upstream = await MockOpenAiServer.StartAsync();
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory, Settings(upstream, ("Gateway:UnpricedModels:Action", "Refuse")));
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "refuse");

        var ex = await Assert.ThrowsAsync<GatewayException>(() => gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi", model: "mystery"),
            new CallContext { TenantId = tenant }, CancellationToken.None));
        var priced = await gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi", model: "priced"), new CallContext { TenantId = tenant },
            CancellationToken.None);

        Assert.Equal(GatewayErrorCodes.ModelNotPriced, ex.Error.Code);
        Assert.Equal(403, ex.Error.HttpStatus);
        Assert.Contains("up/unpriced-model-x", ex.Error.Message, StringComparison.Ordinal);
        Assert.Equal(CallStatus.Rejected, ex.Outcome!.Status);
        Assert.Equal(CostStatus.Exact, priced.Outcome.CostStatus);
        Assert.Single(upstream.Requests);
    }

    [Theory]
    [InlineData("Gateway:UnpricedModels:InputMicrosPerMillion", "0")]
    [InlineData("Gateway:UnpricedModels:OutputMicrosPerMillion", "-5")]
    [InlineData("Gateway:MaxCallDuration", "00:00:05")]
    public async Task Options_BadMoneySetting_FailsNamingTheSetting(string key, string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);
        services.AddKeystoneGateway(configuration);
        await using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<GatewayOptions>>().Value);

        Assert.Contains(key, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Databases))]
    public async Task Stream_UpstreamIgnoresMaxTokens_StoppedWithErrorEventAndSpendStaysWithinCap(string database)
    {
        await using var db = await TestDb.CreateAsync(database);
        await using var upstream = await MockOpenAiServer.StartAsync();
        // Answers 400 words whatever max_tokens says, and reports the usage of all of them at the end.
        upstream.DefaultReply = r => MockReply.Sse(MockOpenAiServer.StreamEvents("gpt-4o-mini",
            [.. Enumerable.Repeat(" budget", 400)], promptTokens: 12, completionTokens: 400));
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory, Settings(upstream));
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "stream");
        var price = await gateway.Services.GetRequiredService<IGatewayPricing>().FindAsync("up", "gpt-4o-mini", DateTime.UtcNow, CancellationToken.None);
        var request = GatewayHarness.Chat("Write a long essay.", model: "priced", maxTokens: 16);
        var worst = price!.WorstCaseMicros(gateway.Services.GetRequiredService<IPromptTokenCounter>().CountPrompt(request), 16);
        var cap = 4 * worst;
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, cap)], null, null, CancellationToken.None);

        var failures = new List<StreamFailed>();
        for (var i = 0; i < 6; i++)
        {
            try
            {
                var events = await gateway.StreamAllAsync(request, new CallContext { TenantId = tenant });
                failures.Add(Assert.IsType<StreamFailed>(events[^1]));
                Assert.True(events.OfType<TextDelta>().Count() <= 16);
            }
            catch (GatewayException ex) when (ex.Error.Code == GatewayErrorCodes.BudgetExceeded)
            {
                break;
            }
        }

        await gateway.FlushAsync();
        await using var read = db.Factory.ForTenant(tenant);
        var calls = await read.Calls.AsNoTracking().Where(c => c.Status != CallStatus.Rejected).ToListAsync();
        var counter = await read.BudgetCounters.AsNoTracking().SingleAsync();
        Assert.Equal(4, failures.Count);
        Assert.All(failures, f => Assert.Equal(GatewayErrorCodes.OutputLimitExceeded, f.Error.Code));
        Assert.All(calls, c => Assert.Equal((CallStatus.Incomplete, "output_limit_exceeded"), (c.Status, c.ErrorCode)));
        Assert.All(calls, c => Assert.True(c.OutputTokens <= 16));
        Assert.True(calls.Sum(c => c.CostMicros) <= cap);
        Assert.Equal(calls.Sum(c => c.CostMicros), counter.SpentMicros);
        Assert.Equal(0, counter.ReservedMicros);
        Assert.All(upstream.Requests, r => Assert.Equal(16, r.Json.GetProperty("max_tokens").GetInt32()));
    }

    [Fact]
    public async Task Complete_NoMaxTokensGiven_SendsTheReservedDefaultOnEveryAdapter()
    {
        await using var db = await TestDb.CreateAsync("sqlite");
        await using var openAi = await MockOpenAiServer.StartAsync();
        await using var anthropic = await MockAnthropicServer.StartAsync();
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory, Settings(openAi,
            ("Gateway:DefaultMaxTokens", "321"),
            ("Gateway:Providers:claude:Kind", "Anthropic"),
            ("Gateway:Providers:claude:BaseUrl", anthropic.BaseUrl.ToString()),
            ("Gateway:Providers:claude:ApiKey", "sk-ant-test"),
            ("Gateway:Aliases:claude:0", "claude/claude-sonnet-4-5")));
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "defaults");
        var context = new CallContext { TenantId = tenant };

        await gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi", model: "priced"), context, CancellationToken.None);
        await gateway.StreamAllAsync(GatewayHarness.Chat("Hi", model: "priced"), context);
        await gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi", model: "claude"), context, CancellationToken.None);
        await gateway.StreamAllAsync(GatewayHarness.Chat("Hi", model: "claude"), context);

        Assert.Equal([321, 321], openAi.Requests.Select(r => r.Json.GetProperty("max_tokens").GetInt32()));
        Assert.Equal([321, 321], anthropic.Requests.Select(r => r.Json.GetProperty("max_tokens").GetInt32()));
    }

    [Theory]
    [MemberData(nameof(Databases))]
    public async Task Complete_UpstreamReportsUsageAboveReservation_SettlesWhatWasSpentAndTheNextCallIsRefused(string database)
    {
        await using var db = await TestDb.CreateAsync(database);
        await using var upstream = await MockOpenAiServer.StartAsync();
        upstream.DefaultReply = r => MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "A very long answer.", 12, 50_000));
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory, Settings(upstream));
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "over");
        var price = await gateway.Services.GetRequiredService<IGatewayPricing>().FindAsync("up", "gpt-4o-mini", DateTime.UtcNow, CancellationToken.None);
        var request = GatewayHarness.Chat("Hi", model: "priced", maxTokens: 16);
        var worst = price!.WorstCaseMicros(gateway.Services.GetRequiredService<IPromptTokenCounter>().CountPrompt(request), 16);
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 10 * worst)], null, null,
            CancellationToken.None);

        var first = await gateway.Gateway.CompleteAsync(request, new CallContext { TenantId = tenant }, CancellationToken.None);
        var ex = await Assert.ThrowsAsync<GatewayException>(() => gateway.Gateway.CompleteAsync(request, new CallContext { TenantId = tenant },
            CancellationToken.None));
        await gateway.FlushAsync();

        Assert.Equal(price.CostMicros(new Usage(12, 50_000)), first.Outcome.CostMicros);
        Assert.True(first.Outcome.CostMicros > 10 * worst);
        Assert.Equal(GatewayErrorCodes.BudgetExceeded, ex.Error.Code);
        Assert.Single(upstream.Requests);
        await using var read = db.Factory.ForTenant(tenant);
        var counter = await read.BudgetCounters.AsNoTracking().SingleAsync();
        Assert.Equal((first.Outcome.CostMicros, 0L), (counter.SpentMicros, counter.ReservedMicros));
    }

    [Theory]
    [MemberData(nameof(Databases))]
    public async Task Restart_AfterCrashWithReservationsInFlight_CountersReconciledFromRecordedCalls(string database)
    {
        await using var db = await TestDb.CreateAsync(database);
        var before = new FakeTimeProvider(new DateTimeOffset(2026, 6, 15, 12, 0, 0, TimeSpan.Zero));
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "crash");
        var crashed = await GatewayHarness.CreateAsync(db.Factory, clock: before);
        await crashed.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 1_000_000)], null, null,
            CancellationToken.None);
        for (var i = 0; i < 3; i++)
        {
            await crashed.Gateway.CompleteAsync(GatewayHarness.Chat("Hello", maxTokens: 8), new CallContext { TenantId = tenant }, CancellationToken.None);
        }

        // Two calls in flight when the process dies: reserved, never settled. The counter is also 86 µ$ off the recorded
        // calls, as a crash between settling and writing the counter left it.
        var ledger = crashed.Services.GetRequiredService<BudgetLedger>();
        var caps = BudgetLedger.Applicable(await crashed.Services.GetRequiredService<TenantSettings>().GetAsync(tenant, CancellationToken.None),
            new CallContext { TenantId = tenant });
        await ledger.ReserveAsync(tenant, Guid.NewGuid(), caps, 344, CancellationToken.None);
        await ledger.ReserveAsync(tenant, Guid.NewGuid(), caps, 258, CancellationToken.None);
        await crashed.DisposeAsync();
        await using (var tamper = db.Factory.ForSystem())
        {
            await tamper.Database.ExecuteSqlAsync($"UPDATE budget_counters SET spent_micros = spent_micros - 86");
        }

        var stuck = await CounterAsync(db.Factory, tenant);
        Assert.Equal(602, stuck.Reserved);

        // Restarted well after the longest possible call; in PostgreSQL mode another instance has a call in flight now.
        var after = new FakeTimeProvider(before.GetUtcNow() + TimeSpan.FromMinutes(20));
        await using var restarted = await GatewayHarness.CreateAsync(db.Factory, clock: after);
        long live = 0;
        GatewayHarness? other = null;
        if (database == "postgres")
        {
            other = await GatewayHarness.CreateAsync(db.Factory, clock: after);
            await other.Services.GetRequiredService<BudgetLedger>().ReserveAsync(tenant, Guid.NewGuid(), caps, 77, CancellationToken.None);
            live = 77;
        }

        await restarted.Services.GetRequiredService<BudgetReconciler>().StartAsync(CancellationToken.None);
        await restarted.Services.GetRequiredService<BudgetReconciler>().StopAsync(CancellationToken.None);
        await restarted.FlushAsync();

        var reconciled = await CounterAsync(db.Factory, tenant);
        await using var read = db.Factory.ForTenant(tenant);
        var recorded = await read.Calls.AsNoTracking().SumAsync(c => c.CostMicros);
        Assert.True(recorded > 0);
        Assert.Equal((recorded, live), (reconciled.Spent, reconciled.Reserved));
        if (other is not null)
        {
            await other.DisposeAsync();
        }
    }

    [Theory]
    [MemberData(nameof(Databases))]
    public async Task Reconcile_Periodically_ReclaimsReservationsOlderThanTheLongestCallAndKeepsLiveOnes(string database)
    {
        await using var db = await TestDb.CreateAsync(database);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 6, 15, 12, 0, 0, TimeSpan.Zero));
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "periodic");
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory, clock: clock);
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 1_000_000)], null, null,
            CancellationToken.None);
        var ledger = gateway.Services.GetRequiredService<BudgetLedger>();
        var caps = BudgetLedger.Applicable(await gateway.Services.GetRequiredService<TenantSettings>().GetAsync(tenant, CancellationToken.None),
            new CallContext { TenantId = tenant });
        await ledger.ReserveAsync(tenant, Guid.NewGuid(), caps, 500, CancellationToken.None);

        // Past Gateway:MaxCallDuration (10 min) plus the minute for settlement retries: that call cannot be alive.
        clock.Advance(TimeSpan.FromMinutes(12));
        await ledger.ReserveAsync(tenant, Guid.NewGuid(), caps, 40, CancellationToken.None);
        var corrected = await ledger.ReconcileAsync(atStart: false, CancellationToken.None);
        await ledger.FlushAsync(CancellationToken.None);

        Assert.Equal(1, corrected);
        Assert.Equal((0L, 40L), await CounterAsync(db.Factory, tenant));
    }

    [Fact]
    public async Task Complete_DatabaseRefusesConnectionsAfterTheProviderAnswered_AnswerReturnedCallRecordedReservationSettled()
    {
        await using var db = await TestDb.CreateAsync("postgres");
        await using var upstream = await MockOpenAiServer.StartAsync();
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory, Settings(upstream));
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "refused");
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 1_000_000)], null, null,
            CancellationToken.None);
        var name = db.Postgres!.Name;
        // The provider answers while the database stops taking connections (and drops the open ones) for a moment.
        upstream.Enqueue(r =>
        {
            Admin($"ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false", $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()");
            return MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "Answered anyway.", 12, 5));
        });
        var reopen = Task.Run(async () =>
        {
            while (upstream.Requests.Count == 0)
            {
                await Task.Delay(10);
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            Admin($"ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true");
        });

        var result = await gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi", model: "priced", maxTokens: 16), new CallContext { TenantId = tenant },
            CancellationToken.None);
        await reopen;
        await gateway.Services.GetRequiredService<BudgetLedger>().DrainDeferredAsync(TimeSpan.FromSeconds(60));
        await gateway.FlushAsync();

        Assert.Equal("Answered anyway.", result.Text);
        Assert.Equal(0, gateway.Recorder.Lost);
        await using var read = db.Factory.ForTenant(tenant);
        var call = await read.Calls.AsNoTracking().SingleAsync();
        Assert.Equal((CallStatus.Ok, GatewayErrorCodes.SettlementFailed), (call.Status, call.ErrorCode));
        var counter = await CounterAsync(db.Factory, tenant);
        Assert.Equal((call.CostMicros, 0L), (counter.Spent, counter.Reserved));
    }

    private static void Admin(params string[] statements)
    {
        using var conn = new NpgsqlConnection(PostgresTestDatabase.AdminConnectionString);
        conn.Open();
        foreach (var sql in statements)
        {
            using var cmd = conn.CreateCommand();
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }
    }

    private static async Task<(long Spent, long Reserved)> CounterAsync(KeystoneDbFactory factory, Guid tenant)
    {
        await using var read = factory.ForTenant(tenant);
        var c = await read.BudgetCounters.AsNoTracking().SingleAsync();
        return (c.SpentMicros, c.ReservedMicros);
    }

    /// <summary>A fresh database of either kind.</summary>
    private sealed class TestDb : IAsyncDisposable
    {
        private readonly IAsyncDisposable _db;

        private TestDb(IAsyncDisposable db, KeystoneDbFactory factory, PostgresTestDatabase? postgres)
        {
            _db = db;
            Factory = factory;
            Postgres = postgres;
        }

        public KeystoneDbFactory Factory { get; }

        public PostgresTestDatabase? Postgres { get; }

        public static async Task<TestDb> CreateAsync(string database)
        {
            if (database == "postgres")
            {
                var pg = await PostgresTestDatabase.CreateAsync();
                return new TestDb(pg, pg.CreateFactory(), pg);
            }

            var sqlite = await SqliteTestDatabase.CreateAsync();
            return new TestDb(sqlite, sqlite.CreateFactory(), null);
        }

        public ValueTask DisposeAsync() => _db.DisposeAsync();
    }
}
