using System.Security.Claims;
using System.Text.Encodings.Web;
using Keystone.Data;
using Keystone.Gateway;
using Keystone.Web.Features.Keys;
using Keystone.Web.Features.Tenants;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Api;

/// <summary>
/// Authenticates <c>Authorization: Bearer ks_…</c> (what every OpenAI SDK sends) against the tenant's keys,
/// pins the request's tenant scope to the key's tenant, and answers challenges and refusals in OpenAI's
/// error shape instead of redirecting to the sign-in page.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyLookup lookup,
    ApiKeyUsageTracker usage,
    TenantContext tenant) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ScopeClaim = "keystone:scope";
    public const string KeyIdClaim = "keystone:api_key_id";

    private static readonly object IdentityItem = new();

    /// <summary>The key that authenticated this request (set once authentication succeeded).</summary>
    public static ApiKeyIdentity? KeyOf(HttpContext http) => http.Items.TryGetValue(IdentityItem, out var v) ? v as ApiKeyIdentity : null;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = PresentedKey(Request);
        if (presented is null)
        {
            return AuthenticateResult.NoResult();
        }

        var key = await lookup.FindAsync(presented, Context.RequestAborted);
        if (key is null)
        {
            return AuthenticateResult.Fail("invalid key");
        }

        usage.MarkUsed(key);
        tenant.UseScope(TenantScope.For(key.TenantId));
        Context.Items[IdentityItem] = key;

        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, $"apikey:{key.KeyId}"),
            new(ClaimTypes.Name, key.Name),
            new(KeyIdClaim, key.KeyId.ToString()),
            new(KeystoneClaims.TenantId, key.TenantId.ToString()),
        };
        claims.AddRange(key.Scopes.Select(s => new Claim(ScopeClaim, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        var missing = PresentedKey(Request) is null;
        await ApiErrors.WriteAsync(Context, 401, missing ? ApiErrors.MissingApiKey : GatewayErrorCodes.InvalidApiKey,
            missing
                ? "No API key given. Send it as 'Authorization: Bearer ks_…'; keys are created on the console's /keys page."
                : "Incorrect, unknown or revoked API key. Keys are managed on the console's /keys page.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
        => ApiErrors.WriteAsync(Context, 403, ApiErrors.InsufficientScope,
            $"This API key lacks the scope this endpoint needs. Its scopes: {string.Join(", ", KeyOf(Context)?.Scopes ?? new HashSet<string>())}.");

    private static string? PresentedKey(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var value = header["Bearer ".Length..].Trim();
            return value.Length == 0 ? null : value;
        }

        return null;
    }
}
