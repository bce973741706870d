using Keystone.Web.Hosting;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Usage;

public static class UsageFeature
{
    public static IServiceCollection AddUsageFeature(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<UsageOptions>().BindConfiguration(UsageOptions.SectionName)
            .ValidateDataAnnotations();
        services.AddScoped<UsageQueries>();
        services.AddSingleton<UsageReader>();
        services.AddPerDatabase<IUsageSnapshot, SqliteUsageSnapshot, PostgresUsageSnapshot>();
        services.AddPerDatabase<IRollupSql, SqliteRollupSql, PostgresRollupSql>();
        services.AddRecurringJob<UsageRollupJob>(UsageRollupJob.RecurringId,
            sp => sp.GetRequiredService<IOptions<UsageOptions>>().Value.RollupCron,
            j => j.RunAsync(CancellationToken.None));
        return services;
    }
}
