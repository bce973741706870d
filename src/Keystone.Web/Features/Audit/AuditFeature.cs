namespace Keystone.Web.Features.Audit;

public static class AuditFeature
{
    public static IServiceCollection AddAuditFeature(this IServiceCollection services) => services
        .AddScoped<AuditQueries>();
}
