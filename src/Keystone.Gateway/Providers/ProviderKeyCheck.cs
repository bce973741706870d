namespace Keystone.Gateway.Providers;

/// <summary>What a provider said when a key was tried against it.</summary>
public enum ProviderKeyCheckResult
{
    /// <summary>The provider answered an authenticated request with success: the key works.</summary>
    Accepted,

    /// <summary>The provider refused the key (401 or 403): it is mistyped, revoked or lacks the permission to list models.</summary>
    Rejected,

    /// <summary>No verdict: the provider was unreachable, timed out, or answered something other than success or 401/403.</summary>
    Unverified,
}

/// <summary>
/// The outcome of trying a key against its provider (decision 0074). <see cref="Reason"/> is in plain words and
/// never contains the key (upstream text is scrubbed as the adapters' errors are).
/// </summary>
/// <param name="Result">Accepted, rejected or unverified.</param>
/// <param name="Reason">Why it was rejected or could not be verified; null when accepted.</param>
public sealed record ProviderKeyCheck(ProviderKeyCheckResult Result, string? Reason)
{
    /// <summary>The longest reason kept (the column's length).</summary>
    public const int MaxReasonLength = 300;

    /// <summary>The machine-readable result: <c>accepted</c>, <c>rejected</c> or <c>unverified</c> (stored and on the API).</summary>
    public string Code => CodeOf(Result);

    /// <summary>The machine-readable code of <paramref name="result"/>.</summary>
    public static string CodeOf(ProviderKeyCheckResult result) => result switch
    {
        ProviderKeyCheckResult.Accepted => "accepted",
        ProviderKeyCheckResult.Rejected => "rejected",
        _ => "unverified",
    };

    internal static ProviderKeyCheck Of(ProviderKeyCheckResult result, string? reason)
        => new(result, reason is { Length: > MaxReasonLength } ? reason[..(MaxReasonLength - 1)] + "…" : reason);
}

/// <summary>An adapter that can try a key with its provider's cheapest authenticated request.</summary>
internal interface IProviderKeyProbe
{
    /// <summary>Tries <paramref name="apiKey"/> against the configured base URL; never throws for the provider's answer.</summary>
    Task<ProviderKeyCheck> CheckKeyAsync(string apiKey, CancellationToken ct);
}

/// <summary>
/// Tries a tenant's own key (BYOK) against the provider it is for, when it is saved or tested again, through the
/// adapter of that provider (same base URL, headers and <see cref="HttpClient"/>, which never follows redirects).
/// </summary>
public sealed class ProviderKeyChecker(ProviderRegistry registry)
{
    /// <summary>
    /// Tries <paramref name="apiKey"/> with provider <paramref name="providerName"/>. A provider without a check (or
    /// unknown here) is <see cref="ProviderKeyCheckResult.Unverified"/>, never rejected.
    /// </summary>
    public Task<ProviderKeyCheck> CheckAsync(string providerName, string apiKey, CancellationToken ct)
        => registry.Find(providerName)?.Provider is IProviderKeyProbe probe
            ? probe.CheckKeyAsync(apiKey, ct)
            : Task.FromResult(ProviderKeyCheck.Of(ProviderKeyCheckResult.Unverified, $"{providerName}: Keystone has no way to try a key with this provider."));
}
