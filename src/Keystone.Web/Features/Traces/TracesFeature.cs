using Hangfire;
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
        .AddTransient<TraceRetentionJob>()
        .AddHostedService<TracesDemoSeed>()
        .AddSingleton(new RecurringJobRegistration(TraceRetentionJob.RecurringId, TraceRetentionJob.Cron,
            jobs => jobs.AddOrUpdate<TraceRetentionJob>(TraceRetentionJob.RecurringId, j => j.RunAsync(CancellationToken.None),
                TraceRetentionJob.Cron, new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc })));
}
