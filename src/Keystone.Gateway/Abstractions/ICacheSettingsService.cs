namespace Keystone.Gateway;

/// <summary>How one feature's calls use the caches, for one tenant.</summary>
/// <param name="Feature">The feature label.</param>
/// <param name="CacheEveryRequest">Exact cache for every request (not only temperature 0).</param>
/// <param name="CacheAtTemperatureZero">Exact cache for temperature-0 requests.</param>
/// <param name="SemanticCache">Answer questions close in meaning to a cached one.</param>
/// <param name="SemanticThreshold">Lowest cosine similarity that counts as the same question (0.5–1).</param>
/// <param name="IsTenantSetting">True when the tenant set these; false for the platform's configuration (or defaults).</param>
/// <param name="UpdatedUtc">When the tenant last changed them; null for the platform's.</param>
public sealed record FeatureCacheSettings(
    string Feature,
    bool CacheEveryRequest,
    bool CacheAtTemperatureZero,
    bool SemanticCache,
    double SemanticThreshold,
    bool IsTenantSetting,
    DateTime? UpdatedUtc);

/// <summary>Raised for settings that cannot be saved; <see cref="Field"/> names the input.</summary>
public sealed class CacheSettingsValidationException(string message, string field) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>
/// A tenant's cache settings per feature (the console's caching page). A tenant's setting for a feature replaces
/// the platform's <c>Gateway:Features</c> entry for that tenant's calls; the gateway sees a change at once.
/// </summary>
public interface ICacheSettingsService
{
    /// <summary>The effective settings of the given features and of every feature the tenant or the platform configured, by feature.</summary>
    Task<IReadOnlyList<FeatureCacheSettings>> ListAsync(Guid tenantId, IEnumerable<string> features, CancellationToken ct);

    /// <summary>Saves the tenant's settings for <see cref="FeatureCacheSettings.Feature"/> (the flags and threshold; the rest is ignored).</summary>
    Task<FeatureCacheSettings> SetAsync(Guid tenantId, FeatureCacheSettings settings, string? userId, CancellationToken ct);

    /// <summary>Drops the tenant's settings for a feature, back to the platform's. False when it had none.</summary>
    Task<bool> ResetAsync(Guid tenantId, string feature, CancellationToken ct);
}
