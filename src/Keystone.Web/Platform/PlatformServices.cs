using Keystone.Data;
using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Components.Server.Circuits;

namespace Keystone.Web.Platform;

/// <summary>
/// Services every feature uses: the tenant scope of a request or circuit, the audit writer and the HTTP API's
/// conventions (<see cref="HttpApiServices"/>). They live outside the feature folders so that features depend on them
/// and never on each other's internals (docs/architecture.md).
/// </summary>
internal static class PlatformServices
{
    public static IServiceCollection AddKeystonePlatform(this IServiceCollection services) => services
        .AddScoped<TenantContext>()
        .AddScoped<ITenantContext>(sp => sp.GetRequiredService<TenantContext>())
        .AddScoped<CircuitHandler, TenantCircuitHandler>()
        .AddScoped<TenantDirectory>()
        .AddScoped<AuditLog>()
        .AddSingleton<ConsoleNotificationSignal>()
        .AddKeystoneHttpApi();
}
