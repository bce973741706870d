using Keystone.Data;
using Keystone.Data.Budgets;
using Keystone.Data.Calls;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Providers.Local;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>
/// The product's default <c>embed</c> alias, the in-process local model, through the whole pipeline on both databases:
/// recorded and metered like any call, priced at zero and billed to <c>local</c>, reserved against the caps; replaced
/// by a real provider through configuration; refused for chat.
/// </summary>
public sealed class LocalEmbeddingsTests
{
    /// <summary>The harness's settings with the product's default embed alias (the local model) instead of the simulated one.</summary>
    internal static Dictionary<string, string?> WithLocalEmbed(IReadOnlyDictionary<string, string?>? settings = null)
    {
        var result = new Dictionary<string, string?>(settings ?? GatewayHarness.InstantSim);
        result.Remove(GatewayHarness.SimulatedEmbedKey);
        return result;
    }

    internal static async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> DatabaseAsync(string database)
    {
        if (database == "postgres")
        {
            var pg = await PostgresTestDatabase.CreateAsync();
            return (pg, pg.CreateFactory());
        }

        var sqlite = await SqliteTestDatabase.CreateAsync();
        return (sqlite, sqlite.CreateFactory());
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Embed_DefaultEmbedAlias_RunsTheLocalModelRecordedAtZeroCostBilledLocalAndReserved(string database)
    {
        var (db, factory) = await DatabaseAsync(database);
        await using var _ = db;
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "local");
        await using var gateway = await GatewayHarness.CreateAsync(factory, WithLocalEmbed());
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 1_000_000)], null, null,
            CancellationToken.None);

        var result = await gateway.Gateway.EmbedAsync(new EmbeddingRequest { Model = "embed", Inputs = ["How do I reset my password?", "Refunds"] },
            new CallContext { TenantId = tenant, Feature = "embeddings" }, CancellationToken.None);
        await gateway.FlushAsync();

        Assert.Equal(2, result.Vectors.Count);
        Assert.All(result.Vectors, v => Assert.Equal(LocalEmbeddingModel.Dimensions, v.Length));
        Assert.Equal(("local", LocalEmbeddingModel.Name), (result.Outcome.Provider, result.Outcome.Model));
        Assert.Equal(0, result.Outcome.CostMicros);
        await using var read = factory.ForTenant(tenant);
        var call = await read.Calls.AsNoTracking().SingleAsync();
        Assert.Equal((CallStatus.Ok, "embed", "embeddings"), (call.Status, call.Alias, call.Feature));
        Assert.Equal(("local", LocalEmbeddingModel.Name), (call.Provider, call.Model));
        Assert.Equal((0L, CostStatus.Exact, BilledTo.Local), (call.CostMicros, call.CostStatus, call.BilledTo));
        Assert.Equal(result.Usage.InputTokens, call.InputTokens);
        Assert.True(call.InputTokens > 4);
        var budget = await gateway.Budgets.GetAsync(tenant, CancellationToken.None);
        Assert.Equal((0L, 0L), (budget.Caps.Single().SpentMicros, budget.Caps.Single().ReservedMicros));
        if (database == "postgres")
        {
            // PostgreSQL keeps each reservation as a row: the free call was reserved (at zero) and settled like any other.
            var reservation = await read.BudgetReservations.AsNoTracking().SingleAsync(r => r.CallId == call.Id);
            Assert.Equal((0L, 0L), (reservation.AmountMicros, reservation.SettledMicros));
        }
    }

    [Fact]
    public async Task Embed_TenantAlreadyOverItsCap_LocalCallIsRefusedBeforeTheModelLikeAnyCall()
    {
        await using var sqlite = await SqliteTestDatabase.CreateAsync();
        var factory = sqlite.CreateFactory();
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "over");
        await using var gateway = await GatewayHarness.CreateAsync(factory, WithLocalEmbed());
        var context = new CallContext { TenantId = tenant };
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 1_000_000)], null, null, CancellationToken.None);
        await gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Write a long story about budgets."), context, CancellationToken.None);
        // The cap is lowered below what was spent: even a free call must pass the ledger, and now it cannot.
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 1)], null, null, CancellationToken.None);

        var ex = await Assert.ThrowsAsync<GatewayException>(() =>
            gateway.Gateway.EmbedAsync(new EmbeddingRequest { Model = "embed", Inputs = ["hello"] }, context, CancellationToken.None));

        Assert.Equal(GatewayErrorCodes.BudgetExceeded, ex.Error.Code);
        Assert.Empty(ex.Outcome!.Attempts);
    }

    [Fact]
    public async Task Embed_EmbedAliasConfiguredToAnOpenAiCompatibleServer_ReplacesTheLocalModel()
    {
        await using var sqlite = await SqliteTestDatabase.CreateAsync();
        await using var upstream = await MockOpenAiServer.StartAsync();
        var factory = sqlite.CreateFactory();
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "real");
        var settings = WithLocalEmbed();
        settings["Gateway:Providers:openai:Kind"] = "OpenAI";
        settings["Gateway:Providers:openai:BaseUrl"] = upstream.BaseUrl.ToString();
        settings["Gateway:Aliases:embed:0"] = "openai/text-embedding-3-small";
        await using var gateway = await GatewayHarness.CreateAsync(factory, settings);

        var result = await gateway.Gateway.EmbedAsync(new EmbeddingRequest { Model = "embed", Inputs = ["hello"] }, new CallContext { TenantId = tenant },
            CancellationToken.None);
        await gateway.FlushAsync();

        Assert.Single(upstream.Requests);
        Assert.Equal(("openai", "text-embedding-3-small"), (result.Outcome.Provider, result.Outcome.Model));
        await using var read = factory.ForTenant(tenant);
        var call = await read.Calls.AsNoTracking().SingleAsync();
        Assert.Equal((BilledTo.Platform, CostStatus.Exact), (call.BilledTo, call.CostStatus));
    }

    [Fact]
    public async Task Complete_ChatOnAnAliasOfTheLocalProvider_IsRefusedSayingItOnlyMakesEmbeddings()
    {
        await using var sqlite = await SqliteTestDatabase.CreateAsync();
        var factory = sqlite.CreateFactory();
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "chat");
        var settings = WithLocalEmbed();
        settings["Gateway:Aliases:vectors:0"] = "local/" + LocalEmbeddingModel.Name;
        await using var gateway = await GatewayHarness.CreateAsync(factory, settings);

        var ex = await Assert.ThrowsAsync<GatewayException>(() =>
            gateway.Gateway.CompleteAsync(GatewayHarness.Chat("hi", model: "vectors"), new CallContext { TenantId = tenant }, CancellationToken.None));

        Assert.Equal(400, ex.Error.HttpStatus);
        Assert.Contains("only makes embeddings", ex.Error.Message, StringComparison.Ordinal);
    }
}
