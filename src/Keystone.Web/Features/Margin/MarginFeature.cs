namespace Keystone.Web.Features.Margin;

internal static class MarginFeature
{
    public static IServiceCollection AddMarginFeature(this IServiceCollection services) => services
        .AddScoped<RevenueQueries>()
        .AddScoped<MarginQueries>()
        .AddScoped<InvoiceImport>();

    public static IEndpointRouteBuilder MapMarginEndpoints(this IEndpointRouteBuilder app) => app.MapMarginExport();
}
