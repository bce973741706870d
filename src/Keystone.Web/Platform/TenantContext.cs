using System.Security.Claims;
using Keystone.Data;
using Keystone.Data.Identity;
using Microsoft.AspNetCore.Components.Authorization;

namespace Keystone.Web.Platform;

/// <summary>
/// The tenant scope of one request or one Blazor circuit. Tenant roles are pinned to their membership
/// tenant; platform roles see all tenants until they switch into one (an audited action). API-key
/// requests and jobs set the scope explicitly.
/// </summary>
internal sealed class TenantContext(IServiceProvider services) : ITenantContext
{
    private ClaimsPrincipal? _user;
    private TenantScope? _explicit;

    /// <summary>The signed-in principal (anonymous when none).</summary>
    public ClaimsPrincipal User => _user ??= ResolveUser();

    /// <inheritdoc />
    public TenantScope Scope => _explicit ?? ScopeOf(User);

    /// <summary>The tenant in scope, when one is.</summary>
    public Guid? TenantId => Scope.TenantId;

    /// <summary>The tenant's display name, when one is in scope.</summary>
    public string? TenantName => _explicit is null ? User.FindFirstValue(KeystoneClaims.TenantName) : null;

    /// <summary>True for PlatformAdmin, Support and PromptEditor.</summary>
    public bool IsPlatformUser => IsPlatform(User);

    /// <summary>The signed-in user's id.</summary>
    public string? UserId => User.FindFirstValue(ClaimTypes.NameIdentifier);

    /// <summary>Sets the principal (request middleware, circuit handler).</summary>
    public void SetUser(ClaimsPrincipal user) => _user = user;

    /// <summary>Pins the scope for API-key requests and jobs, whatever the principal says.</summary>
    public void UseScope(TenantScope scope) => _explicit = scope;

    internal static bool IsPlatform(ClaimsPrincipal user) => Roles.Platform.Any(user.IsInRole);

    /// <summary>The scope a principal's claims give: its tenant claim, else all tenants for platform roles, else none.</summary>
    public static TenantScope ScopeOf(ClaimsPrincipal user)
    {
        if (user.Identity?.IsAuthenticated != true)
        {
            return TenantScope.None;
        }

        if (Guid.TryParse(user.FindFirstValue(KeystoneClaims.TenantId), out var tenantId))
        {
            return TenantScope.For(tenantId);
        }

        return IsPlatform(user) ? TenantScope.All : TenantScope.None;
    }

    // In a circuit the authentication state is set before any component runs, so its task is complete.
    private ClaimsPrincipal ResolveUser()
    {
        if (services.GetService<IHttpContextAccessor>()?.HttpContext is { } http && !IsCircuit(http))
        {
            return http.User;
        }

        try
        {
            var task = services.GetService<AuthenticationStateProvider>()?.GetAuthenticationStateAsync();
            if (task is { IsCompletedSuccessfully: true })
            {
                return task.Result.User;
            }
        }
        catch (InvalidOperationException)
        {
            // Not a Blazor scope: no authentication state was ever set.
        }

        return new ClaimsPrincipal(new ClaimsIdentity());
    }

    private static bool IsCircuit(HttpContext http) => http.WebSockets.IsWebSocketRequest
        || http.Request.Path.StartsWithSegments("/_blazor", StringComparison.OrdinalIgnoreCase);
}
