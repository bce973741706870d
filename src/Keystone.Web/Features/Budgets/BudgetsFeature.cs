using Keystone.Web.Platform;

namespace Keystone.Web.Features.Budgets;

public static class BudgetsFeature
{
    /// <summary>The budgets feature's web parts (the caps themselves live in the gateway's <c>IBudgetService</c>).</summary>
    public static IServiceCollection AddBudgetsFeature(this IServiceCollection services) => services
        .AddScoped<IDemoSeedStep, BudgetsDemoSeed>()
        .AddScoped<BudgetSettingsService>();
}
