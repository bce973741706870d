namespace Keystone.Web.Features.Caching;

public static class CachingFeature
{
    public static IServiceCollection AddCachingFeature(this IServiceCollection services) => services
        .AddScoped<CachingService>();
}
