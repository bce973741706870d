namespace Keystone.Web.Features.Evals;

internal static class EvalsFeature
{
    public static IServiceCollection AddEvalsFeature(this IServiceCollection services) => services
        .AddScoped<EvalSetStore>()
        .AddSingleton<EvalFileImporter>()
        // Registered after the prompts feature (Program.cs order): its prompts exist when the eval files are read.
        .AddHostedService<EvalFilesStartup>()
        .AddScoped<EvalSetEditor>();
}
