using Keystone.Data.Calls;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Gateway.Tests.Budgets;

/// <summary>Caps as callers meet them: the rejection's words, degrade, support replays, soft thresholds, settings.</summary>
public sealed class BudgetPipelineTests : IAsyncLifetime
{
    private SqliteTestDatabase _db = null!;
    private GatewayHarness _gateway = null!;
    private Guid _tenant;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _tenant = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "caps");
        _gateway = await GatewayHarness.CreateAsync(_db.CreateFactory());
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _db.DisposeAsync();
    }

    private Task<TenantBudget> SetCapAsync(BudgetScope scope, string? key, long limit, BudgetAction? action = null, IReadOnlyList<int>? thresholds = null)
        => _gateway.Budgets.SetAsync(_tenant, [new BudgetCapInput(scope, key, BudgetPeriod.Day, limit)], thresholds, action, CancellationToken.None);

    [Fact]
    public async Task Complete_OverTenantCap_RejectedBeforeProviderNamingCapLimitSpendAndReset()
    {
        await SetCapAsync(BudgetScope.Tenant, null, 1);

        var ex = await Assert.ThrowsAsync<GatewayException>(() =>
            _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hello"), new CallContext { TenantId = _tenant }, CancellationToken.None));
        await _gateway.FlushAsync();

        Assert.Equal(GatewayErrorCodes.BudgetExceeded, ex.Error.Code);
        Assert.Equal(429, ex.Error.HttpStatus);
        Assert.Contains("tenant day cap", ex.Error.Message, StringComparison.Ordinal);
        Assert.Contains("left of the tenant day cap ($0.000001; $0.00 spent)", ex.Error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("micro-USD", ex.Error.Message, StringComparison.Ordinal);
        Assert.Contains($"resets at {DateTime.UtcNow.Date.AddDays(1):yyyy-MM-dd} 00:00 UTC", ex.Error.Message, StringComparison.Ordinal);
        Assert.Equal((BudgetScope.Tenant, 1L, 0L), (ex.Error.Cap!.Scope, ex.Error.Cap.LimitMicros, ex.Error.Cap.SpentMicros));
        Assert.NotNull(ex.Error.RetryAfter);
        Assert.Empty(ex.Outcome!.Attempts);
        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var call = await read.Calls.AsNoTracking().SingleAsync();
        Assert.Equal(CallStatus.Rejected, call.Status);
        Assert.Equal("budget_exceeded", call.ErrorCode);
        Assert.Null(call.Provider);
    }

    [Fact]
    public async Task Complete_FeatureCapOfOtherFeature_DoesNotApply()
    {
        await SetCapAsync(BudgetScope.Feature, "search", 1);

        var result = await _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hello"), new CallContext { TenantId = _tenant, Feature = "chat" },
            CancellationToken.None);
        var ex = await Assert.ThrowsAsync<GatewayException>(() => _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hello"),
            new CallContext { TenantId = _tenant, Feature = "search" }, CancellationToken.None));

        Assert.Equal(CallStatus.Ok, result.Outcome.Status);
        Assert.Contains("feature 'search' day cap", ex.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_AtCapWithDegrade_ServesTheCheaperAlias()
    {
        var fast = await WorstCaseAsync("fast");
        await SetCapAsync(BudgetScope.Tenant, null, fast + 1, BudgetAction.Degrade);

        var result = await _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hello", model: "smart"), new CallContext { TenantId = _tenant },
            CancellationToken.None);

        Assert.Equal("sim-fast", result.Outcome.Model);
    }

    [Fact]
    public async Task Complete_SupportReplay_IsNotCountedAgainstTenantCaps()
    {
        await SetCapAsync(BudgetScope.Tenant, null, 1);

        var result = await _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Replay"),
            new CallContext { TenantId = _tenant, BilledToOverride = BilledTo.Support }, CancellationToken.None);
        var budget = await _gateway.Budgets.GetAsync(_tenant, CancellationToken.None);

        Assert.Equal(BilledTo.Support, result.Outcome.BilledTo);
        Assert.True(result.Outcome.CostMicros > 0);
        Assert.Equal(0, budget.Caps.Single().SpentMicros);
    }

    [Fact]
    public async Task Settle_CrossingSoftThreshold_RaisesEventOnceAndWritesOneAuditEntry()
    {
        var events = new List<BudgetThresholdCrossed>();
        _gateway.Services.GetRequiredService<BudgetEvents>().ThresholdCrossed += (_, e) => events.Add(e);
        var worst = await WorstCaseAsync("fast", 8);
        // Every call costs its worst case (the simulated model writes max_tokens): the second crosses 50 %, nothing crosses 100 %.
        await SetCapAsync(BudgetScope.Tenant, null, (worst * 3) + 1, thresholds: [50, 100]);

        for (var i = 0; i < 3; i++)
        {
            await _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hello", maxTokens: 8), new CallContext { TenantId = _tenant },
                CancellationToken.None);
        }

        await _gateway.FlushAsync();
        var crossed = Assert.Single(events);
        Assert.Equal(50, crossed.ThresholdPercent);
        Assert.Equal(BudgetScope.Tenant, crossed.Scope);
        Assert.Equal(_tenant, crossed.TenantId);
        await using var read = _db.CreateFactory().ForSystem();
        var audit = await read.AuditLog.AsNoTracking().Where(a => a.Action == "budget.threshold" && a.TenantId == _tenant).ToListAsync();
        Assert.Equal(events.Count, audit.Count);
        Assert.All(audit, a => Assert.Equal("system", a.ActorType));
        Assert.Equal(events.Count, await read.BudgetCounters.Where(c => c.TenantId == _tenant && c.FiredThresholdPercent > 0).CountAsync());
    }

    [Fact]
    public async Task Set_InvalidCap_IsRefusedWithTheParameter()
    {
        var ex = await Assert.ThrowsAsync<GatewayException>(() => SetCapAsync(BudgetScope.User, null, 100));

        Assert.Equal(400, ex.Error.HttpStatus);
        Assert.Equal("caps[0].key", ex.Error.Param);
    }

    [Fact]
    public async Task Set_SameCapTwice_ReplacesItAndKeepsOthers()
    {
        await SetCapAsync(BudgetScope.Tenant, null, 100);
        await SetCapAsync(BudgetScope.Feature, "chat", 50);

        var budget = await _gateway.Budgets.SetAsync(_tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 200)],
            [50, 80], BudgetAction.Degrade, CancellationToken.None);

        Assert.Equal(2, budget.Caps.Count);
        Assert.Equal(200, budget.Caps.Single(c => c.Scope == BudgetScope.Tenant).LimitMicros);
        Assert.Equal([50, 80], budget.SoftThresholdsPercent);
        Assert.Equal(BudgetAction.Degrade, budget.ActionAtLimit);
        Assert.Equal(DateTime.UtcNow.Date.AddDays(1), budget.Caps[0].ResetsAtUtc);
    }

    private async Task<long> WorstCaseAsync(string alias, int maxTokens = 1024)
    {
        var pricing = _gateway.Services.GetRequiredService<Gateway.Pipeline.IGatewayPricing>();
        var tokens = _gateway.Services.GetRequiredService<Gateway.Pipeline.IPromptTokenCounter>();
        var price = await pricing.FindAsync("sim", "sim-" + alias, DateTime.UtcNow, CancellationToken.None);
        return price!.WorstCaseMicros(tokens.CountPrompt(GatewayHarness.Chat("Hello")), maxTokens);
    }
}
