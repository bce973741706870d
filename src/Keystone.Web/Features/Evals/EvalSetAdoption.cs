using System.Data.Common;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// Gives examples saved before eval sets existed (decision 0034: an example names its set, there is no foreign key) the
/// set row of their owner and name, so they show and can be run. Once at start, not on every read of the sets
/// (docs/decisions/0072-eval-set-adoption-at-start.md): every writer since ensures its set before it inserts
/// (<see cref="EvalSetStore.EnsureSetAsync"/>), so only rows older than the sets table, or written by hand, need it.
/// Registered before <see cref="EvalFilesStartup"/>: an older global group of a prompt is that prompt's set, and the file
/// import then leaves it alone rather than adding the file's examples to it.
/// </summary>
internal sealed class EvalSetAdoption(KeystoneDbFactory dbFactory, TimeProvider clock, ILogger<EvalSetAdoption> logger) : IHostedService
{
    /// <summary>Creates the missing set rows; idempotent and safe against a second instance doing the same. Returns how many it created.</summary>
    public async Task<int> AdoptAsync(CancellationToken ct)
    {
        List<(Guid? TenantId, string Name)> orphans;
        await using (var db = dbFactory.ForSystem())
        {
            // Only the groups with no set row: on a database where every example has its set (the usual case) this reads nothing.
            var rows = await db.EvalExamples.AsNoTracking()
                .Where(e => !db.EvalSets.Any(s => s.TenantId == e.TenantId && s.Name == e.EvalSet))
                .Select(e => new { e.TenantId, e.EvalSet }).Distinct().ToListAsync(ct);
            orphans = rows.Select(r => (r.TenantId, r.EvalSet)).ToList();
        }

        foreach (var (tenantId, name) in orphans)
        {
            await EvalSetStore.EnsureSetAsync(dbFactory, name, tenantId, clock, null, ct);
        }

        return orphans.Count;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (await AdoptAsync(cancellationToken) is > 0 and var adopted)
            {
                logger.LogInformation("Created the set rows of {Count} eval example groups saved before eval sets existed", adopted);
            }
        }
        catch (Exception ex) when (ex is DbUpdateException or DbException)
        {
            // As the eval files: a database not migrated yet is logged, not fatal; the next start adopts.
            logger.LogError(ex, "Eval examples without a set row were not adopted");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
