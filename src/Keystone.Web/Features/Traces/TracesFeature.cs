using Keystone.Data;
using Keystone.Web.Hosting;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Traces;

internal static class TracesFeature
{
    public static IServiceCollection AddTracesFeature(this IServiceCollection services) => services
        .AddOptionsWithValidateOnStart<TracesOptions>().BindConfiguration(TracesOptions.SectionName)
        .ValidateDataAnnotations().Services
        .AddScoped<TraceQueries>()
        .AddScoped<TraceViewer>()
        .AddScoped<TraceReplayer>()
        .AddScoped<EvalExampleWriter>()
        // The eval sampler's read of recorded calls (declared in Evals, which may not depend on Traces).
        .AddScoped<Evals.IRecordedCallPayloads, TraceCandidatePayloads>()
        .AddScoped<SavedTraceSearches>()
        .AddHostedService<TracesDemoSeed>()
        .AddPerDatabase<ITraceIndexCleanup, SqliteTraceIndexCleanup, PostgresTraceIndexCleanup>()
        .AddRecurringJob<TraceRetentionJob>(TraceRetentionJob.RecurringId, TraceRetentionJob.Cron, j => j.RunAsync(CancellationToken.None));

    /// <summary>
    /// <c>/api/v1/calls</c> (a <c>usage:read</c> key) and <c>/api/v1/feedback</c> (a <c>chat</c> key: the app that got the
    /// answer reports on it).
    /// </summary>
    public static IEndpointRouteBuilder MapTracesEndpoints(this IEndpointRouteBuilder app)
    {
        var usageRead = app.MapKeystoneApiGroup(ApiPolicies.UsageRead);
        usageRead.MapGet("/calls", CallEndpoints.ListAsync)
            .WithName("ListCalls")
            .WithSummary("This tenant's calls, newest first, a page at a time")
            .WithDescription("Query: from, to (ISO 8601, UTC; default the last 30 days), feature, user (end user), model (alias, provider or model), "
                + "status = ok | error | fallback | cancelled | incomplete | cached | rejected, limit (1–200, default 50), cursor (nextCursor of the previous page).")
            .Produces<CallPage>()
            .WithErrors(400);
        usageRead.MapGet("/calls/{traceId}", CallEndpoints.GetAsync)
            .WithName("GetCall")
            .WithSummary("A recorded call of this tenant, by trace id")
            .WithDescription("Tokens by type, cost (micro-USD) and cost status, provider and model used, attempts, cache status, latency and status. Another tenant's trace id answers 404.")
            .Produces<CallDto>()
            .WithErrors(400, 404);

        var chat = app.MapKeystoneApiGroup(ApiPolicies.Chat);
        chat.MapPost("/feedback", FeedbackEndpoints.PostAsync)
            .WithName("PostFeedback")
            .WithSummary("Thumbs up or down (and a comment) for a trace")
            .Accepts<FeedbackRequestDoc>("application/json")
            .Produces<FeedbackDto>(201)
            .WithErrors(400, 404, 413, 415);
        return app;
    }
}
