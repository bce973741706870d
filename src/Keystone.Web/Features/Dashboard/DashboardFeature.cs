using Keystone.Web.Platform;
using Hangfire;
using Keystone.Web.Hosting;

namespace Keystone.Web.Features.Dashboard;

public static class DashboardFeature
{
    public static IServiceCollection AddDashboardFeature(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<DashboardOptions>().BindConfiguration(DashboardOptions.SectionName)
            .ValidateDataAnnotations();
        services.AddTransient<UsageRollupJob>();
        services.AddScoped<DashboardQueries>();
        services.AddScoped<IDemoSeedStep, DemoHistory.DemoHistorySeed>();
        services.AddSingleton(sp =>
        {
            var cron = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<DashboardOptions>>().Value.RollupCron;
            return new RecurringJobRegistration(UsageRollupJob.RecurringId, cron,
                jobs => jobs.AddOrUpdate<UsageRollupJob>(UsageRollupJob.RecurringId, j => j.RunAsync(CancellationToken.None), cron));
        });
        return services;
    }
}
