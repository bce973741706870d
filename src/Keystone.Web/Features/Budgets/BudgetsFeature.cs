using Keystone.Web.Platform;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Budgets;

internal static class BudgetsFeature
{
    /// <summary>The budgets feature's web parts (the caps themselves live in the gateway's <c>IBudgetService</c>).</summary>
    public static IServiceCollection AddBudgetsFeature(this IServiceCollection services) => services
        .AddScoped<IDemoSeedStep, BudgetsDemoSeed>()
        .AddScoped<BudgetSettingsService>();

    /// <summary><c>/api/v1/budgets</c> and <c>/api/v1/provider-keys</c> (BYOK) through an <c>admin</c> key.</summary>
    public static IEndpointRouteBuilder MapBudgetsEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapKeystoneApiGroup(ApiPolicies.Admin);
        admin.MapGet("/budgets", BudgetEndpoints.GetAsync)
            .WithName("GetBudgets")
            .WithSummary("This tenant's caps with spend, reservations and reset times; soft thresholds; action at limit")
            .Produces<BudgetDto>();
        admin.MapPut("/budgets", BudgetEndpoints.PutAsync)
            .WithName("PutBudgets")
            .WithSummary("Set caps (replaces the caps named, by scope + key + period; leaves the others), soft thresholds and action at limit")
            .Accepts<BudgetDto>("application/json")
            .Produces<BudgetDto>()
            .WithErrors(400, 409, 413, 415);
        admin.MapDelete("/budgets/caps", BudgetEndpoints.DeleteCapAsync)
            .WithName("DeleteBudgetCap")
            .WithSummary("Remove one cap, named by the query's scope, key (not for the tenant scope) and period; its spend so far stays in the call records")
            .Produces(204)
            .WithErrors(400, 404);
        admin.MapGet("/provider-keys", ProviderKeyEndpoints.ListAsync)
            .WithName("ListProviderKeys")
            .WithSummary("This tenant's own provider keys (BYOK), masked to their last four characters, and the providers it may bring a key for")
            .Produces<ProviderKeyListDto>();
        admin.MapPut("/provider-keys/{provider}", ProviderKeyEndpoints.PutAsync)
            .WithName("PutProviderKey")
            .WithSummary("Try a key against its provider, then store (or replace) it as this tenant's key: encrypted, answered masked with the check's "
                + "result; refused by the provider (401/403) → 422 provider_key_rejected and nothing stored; provider unreachable → stored with verified: false")
            .Accepts<ProviderKeyInputDoc>("application/json")
            .Produces<ProviderKeyDto>()
            .WithErrors(400, 409, 413, 415, 422);
        admin.MapPost("/provider-keys/{provider}/test", ProviderKeyEndpoints.TestAsync)
            .WithName("TestProviderKey")
            .WithSummary("Try this tenant's stored key for a provider again and record the result (accepted, rejected or unverified); "
                + "the key is kept whatever the answer")
            .Produces<ProviderKeyDto>()
            .WithErrors(400, 404);
        admin.MapDelete("/provider-keys/{provider}", ProviderKeyEndpoints.DeleteAsync)
            .WithName("DeleteProviderKey")
            .WithSummary("Remove this tenant's key for a provider: its calls use the platform's key again")
            .Produces(204)
            .WithErrors(404);
        return app;
    }
}
