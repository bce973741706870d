namespace Keystone.Gateway;

/// <summary>
/// The gateway's in-memory copy of each tenant's settings (caps, key rate limits, model policy, per-feature cache
/// settings, BYOK keys). Whoever changes one of them outside the gateway's own services says so here, so the change
/// applies to the next call on this instance and, in PostgreSQL mode, within moments on every other instance.
/// </summary>
public interface ITenantSettingsCache
{
    /// <summary>Drops <paramref name="tenantId"/>'s cached settings here and tells the other instances to drop theirs.</summary>
    void Invalidate(Guid tenantId);

    /// <summary>
    /// Raised when a tenant's settings changed, here or on another instance (<see cref="Guid.Empty"/>: possibly every
    /// tenant's, after a gap in the feed between instances). Handlers run on the feed's thread and must be quick.
    /// </summary>
    event Action<Guid>? Changed;
}
