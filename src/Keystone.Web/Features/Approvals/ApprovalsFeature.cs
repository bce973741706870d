using Keystone.Data;
using Keystone.Web.Components.Layout;
using Keystone.Web.Hosting;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Approvals;

internal static class ApprovalsFeature
{
    public static IServiceCollection AddApprovalsFeature(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<ApprovalsOptions>().BindConfiguration(ApprovalsOptions.SectionName);
        // PostgreSQL listens across instances only with Approvals:ListenAcrossInstances: a LISTEN connection of its own
        // would be one more per instance than the connection budget (decision 29) counts (decision 35).
        services.AddPerDatabase<ApprovalNotices, InProcessApprovalNotices, PostgresApprovalNotices>();
        services.AddHostedService(sp => sp.GetRequiredService<ApprovalNotices>());
        // Requesters follow their own sources (agent runs) live on the same channel.
        services.AddSingleton<IApprovalSourceNotices>(sp => sp.GetRequiredService<ApprovalNotices>());
        services.AddSingleton<ApprovalService>();
        services.AddSingleton<IApprovalService>(sp => sp.GetRequiredService<ApprovalService>());
        services.AddScoped<ApprovalInbox>();
        services.AddScoped<Keystone.Web.Platform.IDemoSeedStep, ApprovalsDemoSeed>();
        // The count of actions waiting for the signed-in person, beside the navigation's Approvals entry.
        services.AddSingleton(new NavBadge("/approvals", typeof(ApprovalsBadge)));
        return services.AddRecurringJob<ApprovalExpiryJob>(ApprovalExpiryJob.RecurringId, ApprovalExpiryJob.Cron, j => j.RunAsync(CancellationToken.None));
    }

    /// <summary><c>/api/v1/approvals</c>: the inbox through an <c>admin</c> key, for tenants who approve in their own product.</summary>
    public static IEndpointRouteBuilder MapApprovalsEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapKeystoneApiGroup(ApiPolicies.Admin);
        admin.MapGet("/approvals", ApprovalEndpoints.ListAsync)
            .WithName("ListApprovals")
            .WithSummary("This tenant's pending actions that can still be decided (status=approved|rejected|expired|cancelled|decided lists decided ones instead)")
            .Produces<ApprovalListDto>()
            .WithErrors(400);
        admin.MapGet("/approvals/{id:guid}", ApprovalEndpoints.GetAsync)
            .WithName("GetApproval")
            .WithSummary("One pending or decided action")
            .Produces<ApprovalDto>()
            .WithErrors(404);
        admin.MapPost("/approvals/{id:guid}/approve", ApprovalEndpoints.ApproveAsync)
            .WithName("ApproveAction")
            .WithSummary("Approve a pending action, optionally with an edited input (where the action allows it) and a comment")
            .WithDescription("Of concurrent decisions exactly one is applied; the others answer 409 already_decided naming who decided. An expired action answers 409 approval_expired; an action whose run was cancelled answers 409 action_cancelled. The body is optional.")
            .Accepts<ApproveDoc>("application/json")
            .Produces<ApprovalDto>()
            .WithErrors(400, 404, 409, 413, 415);
        admin.MapPost("/approvals/{id:guid}/reject", ApprovalEndpoints.RejectAsync)
            .WithName("RejectAction")
            .WithSummary("Reject a pending action, optionally with a comment (handed back to the requester)")
            .Accepts<RejectDoc>("application/json")
            .Produces<ApprovalDto>()
            .WithErrors(400, 404, 409, 413, 415);
        return app;
    }
}
