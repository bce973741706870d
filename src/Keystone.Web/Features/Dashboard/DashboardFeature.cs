namespace Keystone.Web.Features.Dashboard;

public static class DashboardFeature
{
    public static IServiceCollection AddDashboardFeature(this IServiceCollection services) => services
        .AddScoped<DashboardQueries>();
}
