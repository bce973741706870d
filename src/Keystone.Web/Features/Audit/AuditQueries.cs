using Keystone.Web.Platform;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Audit;

/// <summary>A filter over the audit log.</summary>
internal sealed record AuditFilter(string? Action, string? Actor, DateTime? FromUtc, DateTime? ToUtc, int Skip = 0, int Take = 50);

/// <summary>One audit row as shown on the page.</summary>
internal sealed record AuditRow(long Id, DateTime CreatedUtc, string ActorType, string ActorId, string? ActorName,
    string? OnBehalfOf, string? TenantName, string Action, string? Target, string? MetadataJson);

/// <summary>Reads the audit log in the caller's tenant scope (platform admins: all; tenant admins: their own).</summary>
internal sealed class AuditQueries(IDbContextFactory<KeystoneDbContext> dbFactory)
{
    public async Task<(IReadOnlyList<AuditRow> Rows, int Total)> SearchAsync(AuditFilter filter, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var q = db.AuditLog.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(filter.Action))
        {
            q = q.Where(a => a.Action.Contains(filter.Action));
        }

        if (!string.IsNullOrWhiteSpace(filter.Actor))
        {
            q = q.Where(a => a.ActorId.Contains(filter.Actor) || (a.ActorName != null && a.ActorName.Contains(filter.Actor)));
        }

        if (filter.FromUtc is { } from)
        {
            q = q.Where(a => a.CreatedUtc >= from);
        }

        if (filter.ToUtc is { } to)
        {
            q = q.Where(a => a.CreatedUtc < to);
        }

        var total = await q.CountAsync(ct);
        var rows = await q.OrderByDescending(a => a.CreatedUtc).ThenByDescending(a => a.Id)
            .Skip(filter.Skip).Take(Math.Clamp(filter.Take, 1, 500))
            .Select(a => new AuditRow(a.Id, a.CreatedUtc, a.ActorType, a.ActorId, a.ActorName, a.OnBehalfOf,
                db.Tenants.Where(t => t.Id == a.TenantId).Select(t => t.Name).FirstOrDefault(),
                a.Action, a.Target, a.MetadataJson))
            .ToListAsync(ct);
        return (rows, total);
    }
}
