namespace Keystone.Web.Platform.Http;

/// <summary>What an authenticated API key stands for: its tenant, its id, its name and its scopes.</summary>
/// <param name="KeyId">The key's id (used for attribution, per-key caps and rate limits).</param>
/// <param name="TenantId">The tenant every request with this key is scoped to.</param>
/// <param name="Name">The name people gave the key.</param>
/// <param name="Prefix">The shown prefix of the presented secret (<c>ks_AbCd1234</c>).</param>
/// <param name="Scopes">What the key may do (<see cref="ApiKeyScopes"/>).</param>
/// <param name="ExpiresUtc">
/// When the presented secret stops working: the key's expiry, or for a secret replaced by a rotation the end of
/// its overlap (whichever is first); null: never. Checked on every request, not when the lookup was cached.
/// </param>
/// <param name="IsPreviousSecret">The presented secret is the one a rotation replaced.</param>
/// <param name="AllowedModels">The aliases and models this key may call (case-insensitive); null: all the tenant may.</param>
internal sealed record ApiKeyIdentity(
    Guid KeyId,
    Guid TenantId,
    string Name,
    string Prefix,
    IReadOnlySet<string> Scopes,
    DateTime? ExpiresUtc = null,
    bool IsPreviousSecret = false,
    IReadOnlySet<string>? AllowedModels = null)
{
    /// <summary>Whether the presented secret no longer works at <paramref name="nowUtc"/>.</summary>
    public bool IsExpiredAt(DateTime nowUtc) => ExpiresUtc is { } expires && expires <= nowUtc;

    /// <summary>Whether this key may call <paramref name="model"/> (the tenant's own allow-list is checked by the gateway).</summary>
    public bool MayUse(string model) => AllowedModels is null || AllowedModels.Contains(model.Trim());
}
