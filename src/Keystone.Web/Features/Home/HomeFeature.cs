namespace Keystone.Web.Features.Home;

internal static class HomeFeature
{
    /// <summary>The console's home page (<c>/</c>): each role's own numbers and next actions.</summary>
    public static IServiceCollection AddHomeFeature(this IServiceCollection services) => services.AddScoped<HomeQueries>();
}
