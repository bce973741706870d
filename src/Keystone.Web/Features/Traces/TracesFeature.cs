using Keystone.Web.Hosting;

namespace Keystone.Web.Features.Traces;

public static class TracesFeature
{
    public static IServiceCollection AddTracesFeature(this IServiceCollection services) => services
        .AddOptionsWithValidateOnStart<TracesOptions>().BindConfiguration(TracesOptions.SectionName)
        .ValidateDataAnnotations().Services
        .AddScoped<TraceQueries>()
        .AddScoped<TraceViewer>()
        .AddScoped<TraceReplayer>()
        .AddScoped<EvalExampleWriter>()
        .AddScoped<SavedTraceSearches>()
        .AddHostedService<TracesDemoSeed>()
        .AddPerDatabase<ITraceIndexCleanup, SqliteTraceIndexCleanup, PostgresTraceIndexCleanup>()
        .AddRecurringJob<TraceRetentionJob>(TraceRetentionJob.RecurringId, TraceRetentionJob.Cron, j => j.RunAsync(CancellationToken.None));
}
