namespace Keystone.Web.Features.Keys;

public static class KeysFeature
{
    public static IServiceCollection AddKeysFeature(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<ApiKeysOptions>().BindConfiguration(ApiKeysOptions.SectionName).ValidateDataAnnotations();
        services.AddMemoryCache();
        services.AddSingleton<ApiKeyLookup>();
        services.AddSingleton<ApiKeyUsageTracker>();
        services.AddHostedService(sp => sp.GetRequiredService<ApiKeyUsageTracker>());
        services.AddScoped<ApiKeyService>();
        return services;
    }
}
