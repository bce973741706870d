using Keystone.Web.Platform;
using System.Security.Claims;
using Bunit;
using Keystone.Data.Identity;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;

namespace Keystone.Web.Tests;

/// <summary>Base for component tests: loose JS interop, MudBlazor without transitions, test authorization.</summary>
public abstract class KeystoneComponentTest : BunitContext
{
    protected KeystoneComponentTest()
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices(o =>
        {
            o.SnackbarConfiguration.ShowTransitionDuration = 0;
            o.SnackbarConfiguration.HideTransitionDuration = 0;
            o.PopoverOptions.CheckForPopoverProvider = false;
        });
    }

    /// <summary>A signed-in principal with one role (and a tenant claim for tenant roles).</summary>
    protected static ClaimsPrincipal PrincipalFor(string role, Guid? tenantId = null)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, Guid.NewGuid().ToString()),
            new(ClaimTypes.Name, $"{role.ToLowerInvariant()}@test"),
            new(ClaimTypes.Role, role),
            new(KeystoneClaims.DisplayName, $"Test {role}"),
        };
        if (Roles.Tenant.Contains(role))
        {
            claims.Add(new Claim(KeystoneClaims.TenantId, (tenantId ?? DemoData.AcmeId).ToString()));
            claims.Add(new Claim(KeystoneClaims.TenantName, "Acme"));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, "test"));
    }
}
