using Keystone.Web.Platform;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Hosting;

/// <summary><c>/healthz</c>: the database answers. <c>/readyz</c>: migrations and seed are done and the database answers.</summary>
internal static class HealthSetup
{
    public static IEndpointRouteBuilder MapKeystoneHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", async (KeystoneDbFactory db, CancellationToken ct) =>
            await CanConnectAsync(db, ct)
                ? Results.Ok(new { status = "healthy" })
                : Results.Json(new { status = "unhealthy", reason = "database does not answer" }, statusCode: 503))
            .AllowAnonymous().ExcludeFromDescription();

        app.MapGet("/readyz", async (KeystoneDbFactory db, StartupState state, CancellationToken ct) =>
            state.DatabaseReady && await CanConnectAsync(db, ct)
                ? Results.Ok(new { status = "ready" })
                : Results.Json(new { status = "not_ready" }, statusCode: 503))
            .AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    private static async Task<bool> CanConnectAsync(KeystoneDbFactory factory, CancellationToken ct)
    {
        try
        {
            await using var db = factory.Create(TenantScope.None);
            return await db.Database.CanConnectAsync(ct);
        }
        catch (Exception)
        {
            return false;
        }
    }
}
