using Keystone.Data;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Keystone.Web.Platform.Http;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Usage;

internal static class UsageFeature
{
    public static IServiceCollection AddUsageFeature(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<UsageOptions>().BindConfiguration(UsageOptions.SectionName)
            .ValidateDataAnnotations();
        services.AddScoped<UsageQueries>();
        // The 60-day demo history: sent through the gateway, then rolled up, so the dashboards have something to show.
        services.AddScoped<IDemoSeedStep, DemoHistory.DemoHistorySeed>();
        services.AddSingleton<UsageReader>();
        services.AddPerDatabase<IUsageSnapshot, SqliteUsageSnapshot, PostgresUsageSnapshot>();
        services.AddPerDatabase<IRollupSql, SqliteRollupSql, PostgresRollupSql>();
        services.AddRecurringJob<UsageRollupJob>(UsageRollupJob.RecurringId,
            sp => sp.GetRequiredService<IOptions<UsageOptions>>().Value.RollupCron,
            j => j.RunAsync(CancellationToken.None));
        return services;
    }

    /// <summary><c>GET /api/v1/usage</c>: answered by the same <see cref="UsageReader"/> as the usage page.</summary>
    public static IEndpointRouteBuilder MapUsageEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapKeystoneApiGroup(ApiPolicies.UsageRead)
            .MapGet("/usage", UsageEndpoints.GetUsageAsync)
            .WithName("GetUsage")
            .WithSummary("Usage and cost of this tenant, grouped by day, feature, model, user or API key")
            .WithDescription("Query: from, to (ISO 8601, UTC; default the last 30 days, at most 400 days), groupBy = day | feature | model | user | apiKey (default day; apiKey rows are keyed by key id, calls made without a key as (none)). Each row carries calls, tokens, cost, cacheHits and savedCostMicros.")
            .Produces<UsageReport>()
            .WithErrors(400);
        return app;
    }
}
