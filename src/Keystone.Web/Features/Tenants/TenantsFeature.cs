using Keystone.Web.Platform;

namespace Keystone.Web.Features.Tenants;

internal static class TenantsFeature
{
    public static IServiceCollection AddTenantsFeature(this IServiceCollection services) => services
        .AddScoped<TenantDirectory>()
        .AddScoped<MemberService>()
        .AddScoped<IDemoSeedStep, DemoTenantsSeed>();

    public static IEndpointRouteBuilder MapTenantsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapTenantSwitch();
        return app;
    }
}
