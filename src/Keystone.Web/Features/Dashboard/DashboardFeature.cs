using Keystone.Web.Platform;
using Keystone.Web.Hosting;

namespace Keystone.Web.Features.Dashboard;

public static class DashboardFeature
{
    public static IServiceCollection AddDashboardFeature(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<DashboardOptions>().BindConfiguration(DashboardOptions.SectionName)
            .ValidateDataAnnotations();
        services.AddScoped<DashboardQueries>();
        services.AddScoped<IDemoSeedStep, DemoHistory.DemoHistorySeed>();
        services.AddRecurringJob<UsageRollupJob>(UsageRollupJob.RecurringId,
            sp => sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<DashboardOptions>>().Value.RollupCron,
            j => j.RunAsync(CancellationToken.None));
        return services;
    }
}
