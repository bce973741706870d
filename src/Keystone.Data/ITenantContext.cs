namespace Keystone.Data;

/// <summary>The tenant scope of the current request, circuit or job. Every query goes through it.</summary>
public interface ITenantContext
{
    /// <summary>The scope that database work of this caller runs in.</summary>
    TenantScope Scope { get; }
}
