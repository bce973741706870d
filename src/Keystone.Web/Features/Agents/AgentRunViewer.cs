using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Gateway;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Agents;

/// <summary>A run as support sees it: every step, its cost, tool inputs and outputs, where it failed; and the tenant's name.</summary>
internal sealed record RunDetail(RunView View, string? TenantName);

/// <summary>
/// Support's view of runs (and tenant admins' of their own): reads through the console's tenant scope, so platform
/// staff see every tenant's runs and each look is audited, like a trace.
/// </summary>
internal sealed class AgentRunViewer(IDbContextFactory<KeystoneDbContext> dbFactory, TenantContext tenant, AuditLog audit, AgentRunService runs,
    ILlmGateway gateway)
{
    /// <summary>The run, or null when the viewer may not see it. <paramref name="writeAudit"/> false when this look was already audited.</summary>
    public async Task<RunDetail?> OpenAsync(Guid runId, bool writeAudit, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var run = await db.AgentRuns.AsNoTracking().FirstOrDefaultAsync(r => r.Id == runId, ct);
        if (run is null)
        {
            return null;
        }

        var steps = await db.AgentRunSteps.AsNoTracking().Where(s => s.RunId == runId).OrderBy(s => s.Sequence).ToListAsync(ct);
        var tenantName = await db.Tenants.Where(t => t.Id == run.TenantId).Select(t => t.Name).FirstOrDefaultAsync(ct);
        if (writeAudit && tenant.IsPlatformUser)
        {
            await audit.WriteAsync("agent_run.view", $"agent_run:{run.Id}", run.TenantId, new { run.TraceId }, ct);
        }

        return new RunDetail(new RunView(run, steps), tenantName);
    }

    /// <summary>The chat models the run's tenant may use (for the replay's model choice).</summary>
    public async Task<IReadOnlyList<string>> ModelsAsync(Guid tenantId, CancellationToken ct)
        => [.. (await gateway.ModelsAsync(tenantId, ct)).Where(m => !m.IsEmbedding).Select(m => m.Id)];

    /// <summary>Replays a run the viewer can see as a new run (audited); returns the new run's id.</summary>
    public async Task<Guid> ReplayAsync(Guid runId, int fromStep, string? model, CancellationToken ct)
    {
        var detail = await OpenAsync(runId, writeAudit: false, ct) ?? throw AgentException.Missing("There is no such run.");
        var run = detail.View.Run;
        var models = await ModelsAsync(run.TenantId, ct);
        // Support and platform staff replay at the platform's cost; a tenant admin's own replay is the tenant's.
        var platformPays = tenant.IsPlatformUser;
        var replay = await runs.ReplayAsync(run.TenantId, runId, fromStep, model,
            new RunActor(tenant.UserId, null, run.OnBehalfOf, []), models, ct, platformPays);
        await audit.WriteAsync("agent_run.replay", $"agent_run:{run.Id}", run.TenantId,
            new { replay = replay.Id, fromStep, model = replay.Model, billedTo = platformPays ? "platform" : "tenant" }, ct);
        return replay.Id;
    }
}
