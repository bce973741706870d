namespace Keystone.Web.Features.Audit;

internal static class AuditFeature
{
    public static IServiceCollection AddAuditFeature(this IServiceCollection services) => services
        .AddScoped<AuditQueries>();
}
