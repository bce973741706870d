using Keystone.Data;
using Keystone.Data.Agents;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// Every minute: hands to a worker again each run whose worker stopped heartbeating (it died or its server stopped)
/// and each queued run whose job was lost (the embedded mode keeps Hangfire's queue in memory). The worker that takes
/// it claims it atomically and continues from the last persisted step.
/// </summary>
internal sealed class AgentRunJanitorJob(KeystoneDbFactory dbFactory, AgentRunService runs, IOptions<AgentsOptions> options, TimeProvider clock,
    ILogger<AgentRunJanitorJob> log)
{
    public const string RecurringId = "agents:janitor";

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var staleBefore = clock.GetUtcNow().UtcDateTime.AddSeconds(-options.Value.HeartbeatTimeoutSeconds);
        List<Guid> stale;
        await using (var db = dbFactory.ForSystem())
        {
            stale = await db.AgentRuns.AsNoTracking()
                .Where(r => (r.State == AgentRunState.Running && (r.HeartbeatUtc == null || r.HeartbeatUtc < staleBefore))
                    || (r.State == AgentRunState.Queued && r.UpdatedUtc < staleBefore))
                .OrderBy(r => r.UpdatedUtc).Select(r => r.Id).Take(500).ToListAsync(ct);
        }

        foreach (var id in stale)
        {
            runs.Enqueue(id);
        }

        if (stale.Count > 0)
        {
            log.LogInformation("Agent janitor handed {Count} stalled runs to workers", stale.Count);
        }

        return stale.Count;
    }
}
