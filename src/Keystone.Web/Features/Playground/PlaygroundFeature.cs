using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Playground;

internal static class PlaygroundFeature
{
    public static IServiceCollection AddPlaygroundFeature(this IServiceCollection services) => services
        .AddOptionsWithValidateOnStart<PlaygroundOptions>().BindConfiguration(PlaygroundOptions.SectionName)
        .ValidateDataAnnotations().Services
        .AddSingleton(sp => sp.GetRequiredService<IOptions<PlaygroundOptions>>().Value)
        .AddScoped<ConversationService>()
        .AddScoped<CallRecords>()
        .AddScoped<PlaygroundFeedback>();
}
