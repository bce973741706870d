using Keystone.Web.Platform;

namespace Keystone.Web.Features.Prompts;

internal static class PromptsFeature
{
    public static IServiceCollection AddPromptsFeature(this IServiceCollection services) => services
        .AddSingleton<PromptRenderer>()
        .AddScoped<PromptCatalog>()
        .AddScoped<IDemoSeedStep, PromptsDemoSeed>();
}
