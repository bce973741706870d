namespace Keystone.Data;

/// <summary>Thrown when a unit of work tries to write another tenant's row.</summary>
public sealed class TenantIsolationException(string message) : InvalidOperationException(message);
