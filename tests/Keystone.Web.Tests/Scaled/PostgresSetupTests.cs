using System.Net;
using System.Text;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Web.Tests.Shared;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Keystone.Web.Tests.Scaled;

/// <summary>The README's PostgreSQL setup, followed literally: its SQL, <c>--migrate</c> as the owner, the app as the application role.</summary>
public sealed class PostgresSetupTests
{
    [Fact]
    public async Task Migrate_AsTheReadmesNonSuperuserOwner_ThenTheAppRoleServesAndRecordsACall()
    {
        await using var db = await PostgresTestDatabase.CreateFromSetupScriptAsync();

        var (exitCode, output) = await ScaledInstances.RunAppAsync(new Dictionary<string, string>
        {
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__PostgresMigrator"] = db.OwnerConnectionString,
            ["ConnectionStrings__Postgres"] = db.AppConnectionString,
        }, "--migrate");

        Assert.True(exitCode == 0, output);
        Assert.Contains("Migrations applied.", output, StringComparison.Ordinal);
        Assert.Equal((false, false), await RoleAsync(db.OwnerConnectionString));
        Assert.Equal((false, false), await RoleAsync(db.AppConnectionString));
        using var app = ScaledInstances.Instance(db).WithSetting("Seed:Demo", "true");
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        var response = await client.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"fast","messages":[{"role":"user","content":"Hello from the README's setup"}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var traceId = Guid.Parse(response.Headers.GetValues("X-Keystone-Trace-Id").Single());
        await app.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        await using var calls = app.CreateSystemDb();
        Assert.Equal(1, await calls.Calls.CountAsync(c => c.TraceId == traceId));
    }

    [Fact]
    public async Task Start_BeforeMigrate_FailsAtOnceNamingTheCommand()
    {
        await using var db = await PostgresTestDatabase.CreateFromSetupScriptAsync();
        using var app = ScaledInstances.Instance(db);

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        var message = ExceptionText.Flatten(error);
        Assert.Contains("not migrated", message, StringComparison.Ordinal);
        Assert.Contains("--migrate", message, StringComparison.Ordinal);
        Assert.Contains("Hangfire's schema", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_MigrationsAppliedButNoHangfireSchema_FailsNamingTheCommand()
    {
        // EF migrations alone (the test fixture's migrator), without the rest of what --migrate does.
        await using var db = await PostgresTestDatabase.CreateAsync();
        using var app = ScaledInstances.Instance(db);

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        var message = ExceptionText.Flatten(error);
        Assert.Contains("Hangfire's schema 'hangfire' is not installed", message, StringComparison.Ordinal);
        Assert.Contains("--migrate", message, StringComparison.Ordinal);
        Assert.DoesNotContain("migration(s) are not applied", message, StringComparison.Ordinal);
    }

    private static async Task<(bool Superuser, bool BypassRls)> RoleAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetBoolean(0), reader.GetBoolean(1));
    }
}
