namespace Keystone.Web.Features.Keys;

/// <summary>What an authenticated API key stands for: its tenant, its id, its name and its scopes.</summary>
/// <param name="KeyId">The key's id (used for attribution, per-key caps and rate limits).</param>
/// <param name="TenantId">The tenant every request with this key is scoped to.</param>
/// <param name="Name">The name people gave the key.</param>
/// <param name="Prefix">The shown prefix (<c>ks_AbCd1234</c>).</param>
/// <param name="Scopes">What the key may do (<see cref="ApiKeyScopes"/>).</param>
public sealed record ApiKeyIdentity(Guid KeyId, Guid TenantId, string Name, string Prefix, IReadOnlySet<string> Scopes);
