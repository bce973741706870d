using Keystone.Data;

namespace Keystone.Testing;

/// <summary>A tenant context that always answers one scope: for tests that build query services by hand.</summary>
public sealed class FixedTenantContext(TenantScope scope) : ITenantContext
{
    public TenantScope Scope { get; } = scope;
}
