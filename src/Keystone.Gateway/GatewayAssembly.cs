namespace Keystone.Gateway;

/// <summary>Anchor for the gateway assembly (registrations and assembly scanning).</summary>
public static class GatewayAssembly;
