using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Hosting;
using Keystone.Web.Platform.Http;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Agents;

internal static class AgentsFeature
{
    public static IServiceCollection AddAgentsFeature(this IServiceCollection services) => services
        .AddOptionsWithValidateOnStart<AgentsOptions>().BindConfiguration(AgentsOptions.SectionName)
        .ValidateDataAnnotations().Services
        .AddSingleton<IAgentTool, GetUsageSummaryTool>()
        .AddSingleton<IAgentTool, CreateSupportTicketTool>()
        .AddSingleton<IAgentTool, SendEmailTool>()
        .AddSingleton<IAgentTool, IssueCreditTool>()
        .AddSingleton<IAgentTool, SearchDocsTool>()
        .AddAgentToolsAndMcp()
        .AddSingleton<ToolRegistry>()
        .AddSingleton<AgentRunProbe>()
        .AddSingleton<AgentRunNotices>()
        .AddScoped<AgentCatalog>()
        .AddScoped<AgentRunService>()
        .AddScoped<AgentRunner>()
        .AddScoped<AgentRunViewer>()
        .AddScoped<IApprovalDecisionHandler, AgentApprovalHandler>()
        .AddTransient<AgentRunJob>()
        .AddScoped<Keystone.Web.Platform.IDemoSeedStep, AgentsDemoSeed>()
        .AddRecurringJob<AgentRunJanitorJob>(AgentRunJanitorJob.RecurringId, sp => sp.GetRequiredService<IOptions<AgentsOptions>>().Value.JanitorCron,
            j => j.RunAsync(CancellationToken.None));

    /// <summary>
    /// <c>/api/v1/agents</c> and <c>/api/v1/runs</c> for a <c>chat</c> key (an admin key passes too; its runs act with an
    /// admin's tool permissions).
    /// </summary>
    public static IEndpointRouteBuilder MapAgentsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapAgentToolEndpoints();
        var chat = app.MapKeystoneApiGroup(ApiPolicies.Chat);
        chat.MapGet("/agents", AgentEndpoints.ListAgentsAsync)
            .WithName("ListAgents")
            .WithSummary("This tenant's agents")
            .Produces<AgentDto[]>();
        chat.MapPost("/agents/{id:guid}/runs", AgentEndpoints.StartAsync)
            .WithName("StartAgentRun")
            .WithSummary("Starts a durable run of an agent")
            .WithDescription("Body: { \"input\": \"…\" }. Answers 202 with the run id; follow it at /api/v1/runs/{id} and /api/v1/runs/{id}/events.")
            .Accepts<StartRunRequestDoc>("application/json")
            .Produces<RunStartedDto>(202)
            .WithErrors(400, 404, 409, 413, 415);
        chat.MapGet("/runs/{id:guid}", AgentEndpoints.GetAsync)
            .WithName("GetAgentRun")
            .WithSummary("A run's state and every step (model calls with cost, tool calls with input and output)")
            .Produces<RunDto>()
            .WithErrors(400, 404);
        chat.MapGet("/runs/{id:guid}/events", AgentEndpoints.EventsAsync)
            .WithName("AgentRunEvents")
            .WithSummary("A run's events as server-sent events: token, tool_use, tool_result, status, approval_required, error, done")
            .Produces(200, contentType: "text/event-stream")
            .WithErrors(400, 404);
        chat.MapPost("/runs/{id:guid}/cancel", AgentEndpoints.CancelAsync)
            .WithName("CancelAgentRun")
            .WithSummary("Cancels a run: at once when no worker holds it, else at the next step boundary")
            .WithDescription("A run waiting for an approval ends at once and its pending action is closed as cancelled (approving it then answers 409 action_cancelled). If an approval of that action is already being handed over, the approval wins and this answers 409 already_approved: cancel again to stop the resumed run at its next step.")
            .Produces(202)
            .WithErrors(400, 404, 409);
        // Replays start a new run from a stored step: the tenant's admin decides that, so an admin key.
        app.MapKeystoneApiGroup(ApiPolicies.Admin).MapPost("/runs/{id:guid}/replay", AgentEndpoints.ReplayAsync)
            .WithName("ReplayAgentRun")
            .WithSummary("Replays a finished run from a step, on the same or another model, as a new run (the original is untouched)")
            .WithDescription("Body: { \"fromStep\": 2, \"alias\": \"smart\" }. Answers 202 with the new run's id; billed to the tenant.")
            .Accepts<ReplayRunRequestDoc>("application/json")
            .Produces<RunReplayedDto>(202)
            .WithErrors(400, 403, 404, 409, 413, 415);
        return app;
    }
}
