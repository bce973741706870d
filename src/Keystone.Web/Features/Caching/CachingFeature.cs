using Keystone.Web.Hosting;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Caching;

internal static class CachingFeature
{
    public static IServiceCollection AddCachingFeature(this IServiceCollection services) => services
        .AddScoped<CachingService>()
        .AddRecurringJob<CacheExpiryJob>(CacheExpiryJob.RecurringId, CacheExpiryJob.Cron, j => j.RunAsync(CancellationToken.None));

    /// <summary><c>/api/v1/cache-settings</c>: the caching page's settings through an <c>admin</c> key.</summary>
    public static IEndpointRouteBuilder MapCachingEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapKeystoneApiGroup(ApiPolicies.Admin);
        admin.MapGet("/cache-settings", CacheSettingsEndpoints.ListAsync)
            .WithName("ListCacheSettings")
            .WithSummary("How each feature's calls use the caches (the tenant's own settings or the platform's), with the last 30 days' calls, hits and savings")
            .Produces<CacheSettingsListDto>();
        admin.MapPut("/cache-settings/{**feature}", CacheSettingsEndpoints.PutAsync)
            .WithName("PutCacheSettings")
            .WithSummary("Set this tenant's own cache settings for a feature (fields left out keep their current value); they replace the platform's for it")
            .WithDescription("Fields: cacheEveryRequest, cacheAtTemperatureZero, semanticCache (each lookup embeds the question: a charged call), semanticThreshold (0.5–1). The next call sees the change.")
            .Accepts<CacheSettingsInputDoc>("application/json")
            .Produces<CacheSettingsDto>()
            .WithErrors(400, 409, 413, 415);
        admin.MapDelete("/cache-settings/{**feature}", CacheSettingsEndpoints.DeleteAsync)
            .WithName("DeleteCacheSettings")
            .WithSummary("Drop this tenant's own settings for a feature: the platform's apply again")
            .Produces(204)
            .WithErrors(404);
        return app;
    }
}
