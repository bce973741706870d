namespace Keystone.Web.Features.Evals;

internal static class EvalsFeature
{
    public static IServiceCollection AddEvalsFeature(this IServiceCollection services) => services
        .AddScoped<EvalSetStore>()
        .AddScoped<EvalSetEditor>();
}
