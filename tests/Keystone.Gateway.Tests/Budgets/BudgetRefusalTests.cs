using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Gateway.Tests.Budgets;

/// <summary>
/// Refusals that explain themselves (issue 21), on both databases: the refusal names the worst case and what was left in
/// money, the reset in UTC with the wait Retry-After carries, the largest max tokens that would have fitted (and a call
/// with it goes through), and each refusal is counted on the refusing cap with its reason for the budgets page.
/// </summary>
public sealed class BudgetRefusalTests
{
    public static TheoryData<string> Databases => new() { "sqlite", "postgres" };

    [Theory]
    [MemberData(nameof(Databases))]
    public async Task Complete_WorstCaseDoesNotFit_RefusalSaysWhatFitsAndIsCountedOnTheCap(string database)
    {
        await using var db = await CreateDbAsync(database);
        await using var upstream = await MockOpenAiServer.StartAsync();
        await using var gateway = await GatewayHarness.CreateAsync(db.Factory, new Dictionary<string, string?>
        {
            ["Gateway:Providers:up:Kind"] = "OpenAI",
            ["Gateway:Providers:up:BaseUrl"] = upstream.BaseUrl.ToString(),
            ["Gateway:Providers:up:ApiKey"] = "sk-test",
            ["Gateway:Aliases:priced:0"] = "up/gpt-4o-mini",
        });
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "refusals");
        var price = await gateway.Services.GetRequiredService<IGatewayPricing>().FindAsync("up", "gpt-4o-mini", DateTime.UtcNow, CancellationToken.None);
        var big = GatewayHarness.Chat("How long is a piece of string?", model: "priced", maxTokens: 4000);
        var prompt = gateway.Services.GetRequiredService<IPromptTokenCounter>().CountPrompt(big);
        // The cap holds exactly a call of 100 output tokens: 4000 does not fit, 100 does, 101 does not.
        var cap = price!.WorstCaseMicros(prompt, 100);
        Assert.True(price.WorstCaseMicros(prompt, 101) > cap, "the price must tell 100 from 101 tokens for this test to mean anything");
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, cap)], null, null, CancellationToken.None);
        var context = new CallContext { TenantId = tenant };

        var before = DateTime.UtcNow;
        var first = await Assert.ThrowsAsync<GatewayException>(() => gateway.Gateway.CompleteAsync(big, context, CancellationToken.None));
        await Assert.ThrowsAsync<GatewayException>(() => gateway.Gateway.CompleteAsync(big, context, CancellationToken.None));

        var refusal = first.Error.Cap!;
        Assert.Equal((BudgetScope.Tenant, (string?)null, BudgetPeriod.Day, cap, 0L), (refusal.Scope, refusal.Key, refusal.Period, refusal.LimitMicros, refusal.SpentMicros));
        Assert.Equal(price.WorstCaseMicros(prompt, 4000), refusal.WorstCaseMicros);
        Assert.Equal(100, refusal.FitsOutputTokens);
        var reset = DateTime.UtcNow.Date.AddDays(1);
        Assert.Equal(reset, refusal.ResetsAtUtc);
        // Retry-After is the wait from the refusal to the reset.
        Assert.InRange(first.Error.RetryAfter!.Value, reset - DateTime.UtcNow, reset - before);
        var message = first.Error.Message;
        Assert.DoesNotContain("micro-USD", message, StringComparison.Ordinal);
        Assert.Contains($"worst case ({BudgetCapRefusal.Money(refusal.WorstCaseMicros)}: the prompt plus max tokens at the model's price)", message, StringComparison.Ordinal);
        Assert.Contains($"more than the {BudgetCapRefusal.Money(cap)} left of the tenant day cap", message, StringComparison.Ordinal);
        Assert.Contains("max_tokens of about 100 or less", message, StringComparison.Ordinal);
        Assert.Contains($"resets at {reset:yyyy-MM-dd} 00:00 UTC", message, StringComparison.Ordinal);
        Assert.Contains("Retry-After", message, StringComparison.Ordinal);

        await gateway.FlushAsync();
        var status = Assert.Single((await gateway.Budgets.GetAsync(tenant, CancellationToken.None)).Caps);
        Assert.Equal(2, status.RefusedCount);
        Assert.StartsWith("the call's worst case", status.LastRefusalReason, StringComparison.Ordinal);
        Assert.NotNull(status.LastRefusedUtc);

        // What the refusal said fits does fit: the same prompt with max_tokens 100 is answered.
        var fits = GatewayHarness.Chat("How long is a piece of string?", model: "priced", maxTokens: 100);
        var answered = await gateway.Gateway.CompleteAsync(fits, context, CancellationToken.None);
        Assert.True(answered.Outcome.CostMicros is > 0 and <= 1_000_000, $"the answered call cost {answered.Outcome.CostMicros}");
        await gateway.FlushAsync();
        Assert.Equal(2, Assert.Single((await gateway.Budgets.GetAsync(tenant, CancellationToken.None)).Caps).RefusedCount);
    }

    [Fact]
    public void Money_ReadsAsDollarsNeverMicroUsd()
    {
        Assert.Equal(("$0.002", "$0.0011", "$0.000001", "$12.50", "$0.00"),
            (BudgetCapRefusal.Money(2000), BudgetCapRefusal.Money(1100), BudgetCapRefusal.Money(1), BudgetCapRefusal.Money(12_500_000), BudgetCapRefusal.Money(0)));
    }

    private static async Task<(IAsyncDisposable Db, KeystoneDbFactory Factory)> CreateDbCoreAsync(string database)
    {
        if (database == "postgres")
        {
            var pg = await PostgresTestDatabase.CreateAsync();
            return (pg, pg.CreateFactory());
        }

        var sqlite = await SqliteTestDatabase.CreateAsync();
        return (sqlite, sqlite.CreateFactory());
    }

    private static async Task<Db> CreateDbAsync(string database)
    {
        var (d, f) = await CreateDbCoreAsync(database);
        return new Db(d, f);
    }

    private sealed record Db(IAsyncDisposable Inner, KeystoneDbFactory Factory) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Inner.DisposeAsync();
    }
}
