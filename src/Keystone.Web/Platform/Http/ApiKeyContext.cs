namespace Keystone.Web.Platform.Http;

/// <summary>
/// What API key authentication hands to the endpoints: its scheme, the claims it issues and the key that
/// authenticated the request. The Api feature's handler writes it; every feature's endpoints read it here, so none
/// of them depends on the Api feature.
/// </summary>
internal static class ApiKeyContext
{
    public const string SchemeName = "ApiKey";
    public const string ScopeClaim = "keystone:scope";
    public const string KeyIdClaim = KeystoneClaims.ApiKeyId;

    private static readonly object IdentityItem = new();

    /// <summary>The key that authenticated this request (set once authentication succeeded).</summary>
    public static ApiKeyIdentity? KeyOf(HttpContext http) => http.Items.TryGetValue(IdentityItem, out var v) ? v as ApiKeyIdentity : null;

    /// <summary>Records the key that authenticated this request (the authentication handler, once it succeeded).</summary>
    public static void SetKey(HttpContext http, ApiKeyIdentity key) => http.Items[IdentityItem] = key;
}
