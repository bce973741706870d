using Keystone.Data;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Evals;

internal static class EvalsFeature
{
    public static IServiceCollection AddEvalsFeature(this IServiceCollection services) => services
        .AddOptionsWithValidateOnStart<EvalsOptions>().BindConfiguration(EvalsOptions.SectionName)
        .ValidateDataAnnotations().Services
        .AddScoped<EvalSetStore>()
        .AddSingleton<EvalFileImporter>()
        // Before the file import: examples older than the sets table get their set rows once, not on every read (decision 0072).
        .AddSingleton<EvalSetAdoption>()
        .AddHostedService(sp => sp.GetRequiredService<EvalSetAdoption>())
        // Registered after the prompts feature (Program.cs order): its prompts exist when the eval files are read.
        .AddHostedService<EvalFilesStartup>()
        .AddScoped<EvalSetEditor>()
        .AddScoped<EvalRunStore>()
        .AddScoped<EvalRunner>()
        .AddScoped<EvalCompare>()
        // Drift (docs/decisions/0042-eval-drift.md): per-prompt tolerance, the check after every done run, the alerts
        // (also the bell's entries in the app bar) and the trend chart's query.
        .AddScoped<EvalTolerances>()
        .AddScoped<EvalDriftMonitor>()
        .AddScoped<EvalDriftAlerts>()
        .AddScoped<IConsoleNotificationSource>(sp => sp.GetRequiredService<EvalDriftAlerts>())
        .AddScoped<EvalTrendQuery>()
        .AddSingleton(new PromptPagePanel(typeof(EvalPromptPanel)))
        .AddScoped<IDemoSeedStep, EvalsDemoSeed>()
        // The prompt page's activation gate: declared in Prompts, implemented here (Prompts must not depend on Evals).
        .AddScoped<IPromptActivationGate, EvalActivationGate>()
        .AddSingleton<IEvalRunQueue, HangfireEvalRunQueue>()
        .AddTransient<EvalRunJob>()
        // Batch mode (docs/decisions/0049-eval-batch-mode.md): submission, the minute's poll and the early polls after a submission.
        .AddScoped<EvalBatchRunner>()
        .AddSingleton<IEvalBatchPollQueue, HangfireEvalBatchPollQueue>()
        .AddRecurringJob<EvalBatchPollJob>(EvalBatchPollJob.RecurringId, EvalBatchPollJob.Cron, j => j.RunAsync(CancellationToken.None))
        .AddPerDatabase<IEvalRunRecovery, SqliteEvalRunRecovery, PostgresEvalRunRecovery>(ServiceLifetime.Scoped)
        .AddHostedService<EvalRunRecoveryStartup>()
        .AddRecurringJob<EvalRunWatchdogJob>(EvalRunWatchdogJob.RecurringId, EvalRunWatchdogJob.Cron, j => j.RunAsync(CancellationToken.None))
        .AddRecurringJob<EvalNightlyJob>(EvalNightlyJob.RecurringId, EvalNightlyJob.Cron, j => j.RunAsync(CancellationToken.None))
        // Production calls sampled into the review queue (IRecordedCallPayloads is the traces feature's read of the trace store).
        .AddScoped<EvalCandidateReview>()
        .AddRecurringJob<EvalSamplerJob>(EvalSamplerJob.RecurringId, EvalSamplerJob.Cron, j => j.RunAsync(CancellationToken.None));

    /// <summary><c>/api/v1/evals/...</c> through an <c>admin</c> key (the key's tenant's sets only), and the run page's results export.</summary>
    public static IEndpointRouteBuilder MapEvalsEndpoints(this IEndpointRouteBuilder app)
    {
        // The run page's export (console, cookie-authenticated; not part of /api/v1).
        app.MapEvalResultsExport();
        var admin = app.MapKeystoneApiGroup(ApiPolicies.Admin);
        admin.MapPost("/evals/runs", EvalRunEndpoints.StartAsync)
            .WithName("StartEvalRun")
            .WithSummary("Queue a run of this tenant's eval set (by setId, or by prompt name) on a prompt version and alias; answers 202 with the run id")
            .WithDescription("Body: { \"setId\": \"…\" }, { \"prompt\": \"support-reply\" } or { \"feature\": \"checkout\", \"alias\": \"fast\" }, optional \"version\" (default: the version active for the tenant) and \"alias\" (default: the version's; required for a feature's set), "
                + "and \"mode\": \"live\" (default) or \"batch\" (one provider batch at the batch price, results within 24 h; the whole batch's worst case is held on the caps first, 429 budget_exceeded when it does not fit, 400 batch_not_supported for a provider without a batch API). "
                + "The run's calls go through the gateway under feature eval, attributed to this tenant and reserved against its caps.")
            .Accepts<EvalRunRequestDoc>("application/json")
            .Produces<EvalRunAcceptedDto>(202)
            .WithErrors(400, 404, 413, 415, 429, 502);
        admin.MapGet("/evals/runs/{id}", EvalRunEndpoints.GetAsync)
            .WithName("GetEvalRun")
            .WithSummary("An eval run of this tenant: status, progress, score (points 0-100), pass rate and cost so far")
            .Produces<EvalRunDto>()
            .WithErrors(400, 404);
        admin.MapPut("/evals/nightly", EvalNightlyEndpoints.PutAsync)
            .WithName("SetEvalNightlyAlias")
            .WithSummary("Choose the alias this tenant's set of a feature is run on every night (null stops it); audited")
            .WithDescription("Body: { \"feature\": \"checkout\", \"alias\": \"fast\" }. The first nightly run on a newly chosen alias is the feature's drift baseline.")
            .Accepts<EvalNightlyRequestDoc>("application/json")
            .Produces<EvalNightlyDto>()
            .WithErrors(400, 404, 413, 415);
        admin.MapGet("/evals/sampling", EvalSamplingEndpoints.ListAsync)
            .WithName("ListEvalSamplingRates")
            .WithSummary("This tenant's sampling rates: per feature, the percent of recorded calls queued for eval review")
            .WithErrors(401);
        admin.MapPut("/evals/sampling", EvalSamplingEndpoints.PutAsync)
            .WithName("SetEvalSamplingRate")
            .WithSummary("Set one feature's sampling rate (0-100 %, 0 stops sampling it); audited")
            .WithDescription("Body: { \"feature\": \"checkout\", \"ratePercent\": 1 }. The sampler job picks calls by a hash of their id below the rate, off the request path.")
            .Accepts<EvalSamplingRateRequestDoc>("application/json")
            .Produces<EvalSamplingRateDto>()
            .WithErrors(400, 409, 413, 415);
        return app;
    }
}
