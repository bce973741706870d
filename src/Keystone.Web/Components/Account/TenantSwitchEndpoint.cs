using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Identity;
using Keystone.Web.Hosting;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Components.Account;

/// <summary>
/// The audited switch of a platform user into one tenant (or back to all tenants). A form post, not a
/// circuit call: the sign-in cookie must be re-issued with the new tenant claim, which needs an HTTP response.
/// </summary>
internal static class TenantSwitchEndpoint
{
    public const string Path = "/Account/SwitchTenant";

    public static IEndpointConventionBuilder MapTenantSwitch(this IEndpointRouteBuilder app) => app.MapPost(Path,
        async ([FromForm] string? tenantId, [FromForm] string? returnUrl, HttpContext http,
            UserManager<KeystoneUser> users, SignInManager<KeystoneUser> signIn, KeystoneDbFactory dbFactory, AuditLog audit) =>
        {
            var user = await users.GetUserAsync(http.User);
            if (user is null)
            {
                return Results.Challenge();
            }

            Guid? target = null;
            string? targetName = null;
            if (!string.IsNullOrEmpty(tenantId))
            {
                if (!Guid.TryParse(tenantId, out var id))
                {
                    return Results.BadRequest(new { error = new { code = "invalid_tenant", message = "tenantId is not a tenant id." } });
                }

                await using var db = dbFactory.ForSystem();
                targetName = await db.Tenants.Where(t => t.Id == id).Select(t => t.Name).FirstOrDefaultAsync();
                if (targetName is null)
                {
                    return Results.NotFound();
                }

                target = id;
            }

            user.SelectedTenantId = target;
            await users.UpdateAsync(user);
            await audit.WriteAsync(target is null ? "tenant.switch_all" : "tenant.switch",
                target is null ? "tenant:*" : $"tenant:{targetName}", target);
            await signIn.RefreshSignInAsync(user);
            return Results.LocalRedirect(IsLocal(returnUrl) ? returnUrl! : "/");
        }).RequireAuthorization(p => p.RequireRole(Roles.Platform.ToArray()));

    private static bool IsLocal(string? url) => !string.IsNullOrEmpty(url) && url.StartsWith('/') && !url.StartsWith("//", StringComparison.Ordinal) && !url.StartsWith("/\\", StringComparison.Ordinal);
}
