using Keystone.Web.Platform;

namespace Keystone.Web.Features.Tenants;

internal static class TenantsFeature
{
    public static IServiceCollection AddTenantsFeature(this IServiceCollection services) => services
        .AddScoped<MemberService>()
        .AddScoped<IDemoSeedStep, DemoTenantsSeed>();
}
