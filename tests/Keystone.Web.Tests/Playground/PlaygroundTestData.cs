using Keystone.Web.Platform;
using System.Security.Claims;
using Keystone.Data;
using Keystone.Data.Identity;
using Keystone.Data.Tenancy;

namespace Keystone.Web.Tests.Playground;

/// <summary>Tenants and principals the playground tests work with.</summary>
internal static class PlaygroundTestData
{
    public static async Task SeedTenantsAsync(KeystoneDbFactory factory)
    {
        await using var db = factory.ForSystem();
        db.Plans.Add(new Plan { Id = DemoData.ProPlanId, Name = "Pro", DefaultRequestsPerMinute = 600 });
        foreach (var (id, name) in new[] { (DemoData.AcmeId, "Acme"), (DemoData.GlobexId, "Globex") })
        {
            db.Tenants.Add(new Tenant { Id = id, Name = name, Slug = name.ToLowerInvariant(), PlanId = DemoData.ProPlanId, CreatedUtc = DateTime.UtcNow });
        }

        await db.SaveChangesAsync();
    }

    public static Claim[] TenantClaims(string userId, Guid tenantId) =>
    [
        new(ClaimTypes.NameIdentifier, userId),
        new(KeystoneClaims.TenantId, tenantId.ToString()),
        new(KeystoneClaims.TenantName, tenantId == DemoData.AcmeId ? "Acme" : "Globex"),
    ];

    public static ClaimsPrincipal Member(string userId, Guid tenantId) => new(new ClaimsIdentity(
        [.. TenantClaims(userId, tenantId), new Claim(ClaimTypes.Role, Roles.TenantMember)], "test"));
}
