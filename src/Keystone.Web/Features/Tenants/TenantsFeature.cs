using Keystone.Data;
using Microsoft.AspNetCore.Components.Server.Circuits;

namespace Keystone.Web.Features.Tenants;

public static class TenantsFeature
{
    public static IServiceCollection AddTenantsFeature(this IServiceCollection services) => services
        .AddScoped<TenantContext>()
        .AddScoped<ITenantContext>(sp => sp.GetRequiredService<TenantContext>())
        .AddScoped<CircuitHandler, TenantCircuitHandler>()
        .AddScoped<TenantDirectory>()
        .AddScoped<MemberService>()
        .AddSingleton<StartupState>()
        .AddScoped<IDemoSeedStep, DemoTenantsSeed>()
        .AddHostedService<DatabaseStartup>();

    public static IEndpointRouteBuilder MapTenantsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapTenantSwitch();
        return app;
    }
}
