namespace Keystone.Web.Platform.Http;

/// <summary>What every feature's HTTP endpoints share: the <c>Api</c> limits and the request body reader.</summary>
internal static class HttpApiServices
{
    public static IServiceCollection AddKeystoneHttpApi(this IServiceCollection services) => services
        .AddOptionsWithValidateOnStart<ApiOptions>().BindConfiguration(ApiOptions.SectionName).ValidateDataAnnotations().Services
        .AddSingleton<ApiRequestBody>();
}
