using Keystone.Gateway;
using Keystone.Web.Platform;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Keystone.Web.Features.Prompts;

internal static class PromptsFeature
{
    public static IServiceCollection AddPromptsFeature(this IServiceCollection services)
    {
        // The gateway publishes the abstraction; its provider-based implementation is registered here, where it is used.
        services.TryAddSingleton<IPromptCachePolicy, ProviderPromptCachePolicy>();
        services.AddOptionsWithValidateOnStart<PromptFilesOptions>().BindConfiguration(PromptFilesOptions.SectionName).ValidateDataAnnotations();
        return services
            .AddSingleton<PromptImportStatus>()
            .AddSingleton<PromptFileImporter>()
            // Registered after the database start-up (Program.cs order): the import runs on a migrated database.
            .AddHostedService<PromptFilesStartup>()
            .AddSingleton<PromptRenderer>()
            .AddScoped<PromptCatalog>()
            .AddScoped<PromptWorkbench>()
            .AddSingleton<PromptTrafficQueries>()
            .AddScoped<IDemoSeedStep, PromptsDemoSeed>();
    }
}
