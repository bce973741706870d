namespace Keystone.Web.Features.Dashboard;

internal static class DashboardFeature
{
    public static IServiceCollection AddDashboardFeature(this IServiceCollection services) => services
        .AddScoped<DashboardQueries>();
}
