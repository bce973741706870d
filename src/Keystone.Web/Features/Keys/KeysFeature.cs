using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Keys;

internal static class KeysFeature
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

    /// <summary><c>/api/v1/keys</c>: the key lifecycle through an <c>admin</c> key.</summary>
    public static IEndpointRouteBuilder MapKeysEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapKeystoneApiGroup(ApiPolicies.Admin);
        admin.MapGet("/keys", KeyManagementEndpoints.ListAsync)
            .WithName("ListApiKeys")
            .WithSummary("This tenant's API keys (never their secrets): scopes, limits, caps, expiry, rotation, last use")
            .Produces<ApiKeyListDto>();
        admin.MapPost("/keys", KeyManagementEndpoints.CreateAsync)
            .WithName("CreateApiKey")
            .WithSummary("Create a key; the answer holds its secret, once")
            .Accepts<NewApiKeyDoc>("application/json")
            .Produces<CreatedApiKeyDto>(201)
            .WithErrors(400, 409, 413, 415);
        admin.MapPatch("/keys/{id:guid}", KeyManagementEndpoints.UpdateAsync)
            .WithName("UpdateApiKey")
            .WithSummary("Change a key's expiry and / or model allow-list (a field present changes, null clears it)")
            .Accepts<UpdateApiKeyDoc>("application/json")
            .Produces<ApiKeyDto>()
            .WithErrors(400, 404, 413, 415);
        admin.MapPost("/keys/{id:guid}/rotate", KeyManagementEndpoints.RotateAsync)
            .WithName("RotateApiKey")
            .WithSummary("Give a key a new secret (in the answer, once); the old one works for overlapSeconds more (default 24 h)")
            .WithDescription("The key keeps its id, caps and their spend, rate limit, scopes, expiry and attribution. The body is optional. A secret replaced by an earlier rotation stops at once. Of concurrent rotations of one key, one answers 200 and the others 409 (they changed nothing).")
            .Accepts<RotateApiKeyDoc>("application/json")
            .Produces<CreatedApiKeyDto>()
            .WithErrors(400, 404, 409, 413, 415);
        admin.MapDelete("/keys/{id:guid}", KeyManagementEndpoints.RevokeAsync)
            .WithName("RevokeApiKey")
            .WithSummary("Revoke a key (every secret it has) for good")
            .Produces(204)
            .WithErrors(404);
        return app;
    }
}
