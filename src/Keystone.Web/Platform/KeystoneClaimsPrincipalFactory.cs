using System.Security.Claims;
using Keystone.Data;
using Keystone.Data.Identity;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Platform;

/// <summary>
/// Adds the tenant and the tenant role to the sign-in cookie: tenant users get their membership's
/// tenant and role; platform users get the tenant they last switched into, if any.
/// </summary>
internal sealed class KeystoneClaimsPrincipalFactory(
    UserManager<KeystoneUser> users,
    RoleManager<IdentityRole> roles,
    IOptions<IdentityOptions> options,
    KeystoneDbFactory dbFactory)
    : UserClaimsPrincipalFactory<KeystoneUser, IdentityRole>(users, roles, options)
{
    protected override async Task<ClaimsIdentity> GenerateClaimsAsync(KeystoneUser user)
    {
        var identity = await base.GenerateClaimsAsync(user);
        identity.AddClaim(new Claim(KeystoneClaims.DisplayName, string.IsNullOrEmpty(user.DisplayName) ? user.Email ?? "" : user.DisplayName));

        // The user's own memberships, read across tenants on purpose: sign-in happens before any tenant is known.
        await using var db = dbFactory.ForSystem();
        var membership = await db.Memberships.AsNoTracking()
            .Where(m => m.UserId == user.Id)
            .OrderBy(m => m.CreatedUtc)
            .Join(db.Tenants, m => m.TenantId, t => t.Id, (m, t) => new { m.TenantId, m.Role, t.Name })
            .FirstOrDefaultAsync();

        if (membership is not null)
        {
            identity.AddClaim(new Claim(identity.RoleClaimType, membership.Role));
            identity.AddClaim(new Claim(KeystoneClaims.TenantId, membership.TenantId.ToString()));
            identity.AddClaim(new Claim(KeystoneClaims.TenantName, membership.Name));
        }
        else if (user.SelectedTenantId is { } selected
                 && await db.Tenants.AsNoTracking().Where(t => t.Id == selected).Select(t => t.Name).FirstOrDefaultAsync() is { } name)
        {
            identity.AddClaim(new Claim(KeystoneClaims.TenantId, selected.ToString()));
            identity.AddClaim(new Claim(KeystoneClaims.TenantName, name));
        }

        return identity;
    }
}
