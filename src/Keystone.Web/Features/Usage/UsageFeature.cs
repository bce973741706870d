namespace Keystone.Web.Features.Usage;

public static class UsageFeature
{
    public static IServiceCollection AddUsageFeature(this IServiceCollection services) => services
        .AddScoped<UsageQueries>();
}
