using Keystone.Web.Platform;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// One agent in the demo, so the playground's agent mode and <c>/agents</c> have something to run: Acme's "Customer
/// helper" on <c>fast</c>, with the usage summary, support tickets and email (email asks an admin first, as every
/// external tool does by default). Created through the catalog, so its day budget is the gateway's feature cap like any
/// agent's. Runs after the budgets step (which seeds only a tenant without caps). Idempotent: an agent of that name is
/// left as it is.
/// </summary>
internal sealed class AgentsDemoSeed(AgentCatalog catalog, ILogger<AgentsDemoSeed> log) : IDemoSeedStep
{
    public const string AgentName = "Customer helper";

    public int Order => 70;

    public async Task RunAsync(CancellationToken ct)
    {
        var existing = await catalog.ListAsync(DemoData.AcmeId, ct);
        if (existing.Any(a => a.Name == AgentName))
        {
            return;
        }

        try
        {
            await catalog.SaveAsync(DemoData.AcmeId, null, new AgentInput(AgentName, "fast", null, null,
                ["create_support_ticket", "get_usage_summary", "send_email"], RunBudgetMicros: 200_000, DayBudgetMicros: 2_000_000, MaxSteps: 6), "demo-seed", ct);
            log.LogInformation("Seeded the demo agent {Agent} for tenant {TenantId}", AgentName, DemoData.AcmeId);
        }
        catch (AgentException ex)
        {
            // A demo without the "fast" alias (a configuration of its own) simply has no demo agent.
            log.LogWarning("The demo agent was not seeded: {Reason}", ex.Message);
        }
    }
}
