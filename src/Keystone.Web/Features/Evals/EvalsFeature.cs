using Keystone.Data;
using Keystone.Web.Hosting;

namespace Keystone.Web.Features.Evals;

internal static class EvalsFeature
{
    public static IServiceCollection AddEvalsFeature(this IServiceCollection services) => services
        .AddOptionsWithValidateOnStart<EvalsOptions>().BindConfiguration(EvalsOptions.SectionName)
        .ValidateDataAnnotations().Services
        .AddScoped<EvalSetStore>()
        .AddSingleton<EvalFileImporter>()
        // Registered after the prompts feature (Program.cs order): its prompts exist when the eval files are read.
        .AddHostedService<EvalFilesStartup>()
        .AddScoped<EvalSetEditor>()
        .AddScoped<EvalRunStore>()
        .AddScoped<EvalRunner>()
        .AddSingleton<IEvalRunQueue, HangfireEvalRunQueue>()
        .AddTransient<EvalRunJob>()
        .AddPerDatabase<IEvalRunRecovery, SqliteEvalRunRecovery, PostgresEvalRunRecovery>(ServiceLifetime.Scoped)
        .AddHostedService<EvalRunRecoveryStartup>()
        .AddRecurringJob<EvalRunWatchdogJob>(EvalRunWatchdogJob.RecurringId, EvalRunWatchdogJob.Cron, j => j.RunAsync(CancellationToken.None));
}
