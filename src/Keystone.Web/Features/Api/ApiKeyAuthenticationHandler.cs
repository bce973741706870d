using Keystone.Web.Platform;
using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Keystone.Data;
using Keystone.Gateway;
using Keystone.Web.Features.Keys;
using Keystone.Web.Platform.Http;
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
    TenantContext tenant,
    TimeProvider clock) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    /// <summary>
    /// Sent on every answer to a key that expires (ISO 8601 UTC), so a tenant's automation sees the date coming
    /// before requests start failing.
    /// </summary>
    public const string KeyExpiresHeader = "X-Keystone-Key-Expires";

    private static readonly object ExpiredItem = new();


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

        if (key.IsExpiredAt(clock.GetUtcNow().UtcDateTime))
        {
            Context.Items[ExpiredItem] = key;
            return AuthenticateResult.Fail("expired key");
        }

        if (key.ExpiresUtc is { } expires)
        {
            Response.Headers[KeyExpiresHeader] = expires.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        }

        usage.MarkUsed(key);
        tenant.UseScope(TenantScope.For(key.TenantId));
        ApiKeyContext.SetKey(Context, key);

        var principal = new ClaimsPrincipal(Identities.GetValue(key, IdentityOf));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, ApiKeyContext.SchemeName));
    }

    /// <summary>
    /// The claims of a key, built once per looked-up key (its cached <see cref="ApiKeyIdentity"/>, held weakly: a key that
    /// leaves the lookup cache takes its claims with it) instead of on every request (issue 26: three GUIDs formatted and
    /// six objects per call). Nothing adds claims to an API key's identity; each request gets a principal of its own.
    /// </summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ApiKeyIdentity, ClaimsIdentity> Identities = new();

    private static ClaimsIdentity IdentityOf(ApiKeyIdentity key)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, $"apikey:{key.KeyId}"),
            new(ClaimTypes.Name, key.Name),
            new(ApiKeyContext.KeyIdClaim, key.KeyId.ToString()),
            new(KeystoneClaims.TenantId, key.TenantId.ToString()),
        };
        claims.AddRange(key.Scopes.Select(s => new Claim(ApiKeyContext.ScopeClaim, s)));
        return new ClaimsIdentity(claims, ApiKeyContext.SchemeName);
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        if (Context.Items.TryGetValue(ExpiredItem, out var item) && item is ApiKeyIdentity expired)
        {
            var when = expired.ExpiresUtc!.Value.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            await ApiErrors.WriteAsync(Context, 401, ApiErrors.ExpiredApiKey, expired.IsPreviousSecret
                ? $"This secret of API key '{expired.Name}' was replaced by a rotation and stopped working at {when} UTC. Use the key's new secret."
                : $"API key '{expired.Name}' ({expired.Prefix}…) expired at {when} UTC. A tenant admin can extend it or create a new key on the console's /keys page.");
            return;
        }

        var missing = PresentedKey(Request) is null;
        await ApiErrors.WriteAsync(Context, 401, missing ? ApiErrors.MissingApiKey : GatewayErrorCodes.InvalidApiKey,
            missing
                ? "No API key given. Send it as 'Authorization: Bearer ks_…'; keys are created on the console's /keys page."
                : "Incorrect, unknown or revoked API key. Keys are managed on the console's /keys page.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
        => ApiErrors.WriteAsync(Context, 403, ApiErrors.InsufficientScope,
            $"This API key lacks the scope this endpoint needs. Its scopes: {string.Join(", ", ApiKeyContext.KeyOf(Context)?.Scopes ?? new HashSet<string>())}.");

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
