using System.Diagnostics.CodeAnalysis;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Platform;

/// <summary>A tenant as listed to platform staff.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (TenantSwitcher.Tenants): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TenantSummary(Guid Id, string Name, string Slug, string Plan, bool IsDemo, int Members);

/// <summary>Lists tenants. Platform roles see every tenant; tenant roles see only their own.</summary>
internal sealed class TenantDirectory(KeystoneDbFactory dbFactory, TenantContext tenant)
{
    public async Task<IReadOnlyList<TenantSummary>> ListAsync(CancellationToken ct)
    {
        // The tenants table is the registry itself (not tenant-owned); restrict it here by role.
        await using var db = dbFactory.ForSystem();
        var q = db.Tenants.AsNoTracking();
        if (!tenant.IsPlatformUser)
        {
            var own = TenantContext.ScopeOf(tenant.User).TenantId;
            q = q.Where(t => t.Id == own);
        }

        return await q.OrderBy(t => t.Name)
            .Select(t => new TenantSummary(t.Id, t.Name, t.Slug, t.Plan!.Name, t.IsDemo,
                db.Memberships.Count(m => m.TenantId == t.Id)))
            .ToListAsync(ct);
    }
}
