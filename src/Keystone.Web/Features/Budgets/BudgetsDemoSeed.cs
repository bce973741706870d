using Keystone.Web.Platform;
using Keystone.Gateway;

namespace Keystone.Web.Features.Budgets;

/// <summary>
/// Demo caps: Acme with day, month and a feature cap (block), Globex with a tight day cap that degrades, Initech with
/// a month cap. Only caps a tenant does not have yet are set, so the step is idempotent and never undoes an edit.
/// </summary>
internal sealed class BudgetsDemoSeed(IBudgetService budgets, ILogger<BudgetsDemoSeed> log) : IDemoSeedStep
{
    public int Order => 20;

    public async Task RunAsync(CancellationToken ct)
    {
        await SeedAsync(DemoData.AcmeId, [
            new(BudgetScope.Tenant, null, BudgetPeriod.Day, 5_000_000),
            new(BudgetScope.Tenant, null, BudgetPeriod.Month, 100_000_000),
            new(BudgetScope.Feature, "support-bot", BudgetPeriod.Day, 1_000_000),
        ], [50, 80, 100], BudgetAction.Block, ct);
        await SeedAsync(DemoData.GlobexId, [new(BudgetScope.Tenant, null, BudgetPeriod.Day, 500_000)], [80], BudgetAction.Degrade, ct);
        await SeedAsync(DemoData.InitechId, [new(BudgetScope.Tenant, null, BudgetPeriod.Month, 20_000_000)], [80], BudgetAction.Block, ct);
    }

    private async Task SeedAsync(Guid tenantId, IReadOnlyList<BudgetCapInput> caps, IReadOnlyList<int> thresholds, BudgetAction action,
        CancellationToken ct)
    {
        var current = await budgets.GetAsync(tenantId, ct);
        if (current.Caps.Count > 0)
        {
            return;
        }

        await budgets.SetAsync(tenantId, caps, thresholds, action, ct);
        log.LogInformation("Seeded {Count} demo budget caps for tenant {TenantId}", caps.Count, tenantId);
    }
}
