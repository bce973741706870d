using System.Net;
using System.Text;
using Keystone.Data;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Web.Tests.Shared;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
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

    [Fact]
    public async Task SetupScript_MarksTheFullTextMatchFunctionLeakproof_AndMigrateAsTheOwnerLeavesItSoWithoutAWarning()
    {
        await using var db = await PostgresTestDatabase.CreateFromSetupScriptAsync();
        var log = new ListLogger<DatabaseMigrator>();

        await MigrateAsync(db, log);

        Assert.True(await LeakproofAsync(db.OwnerConnectionString));
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task Migrate_AsTheNonSuperuserOwnerWithoutTheMark_WarnsNamingTheSetupStepEachTime()
    {
        await using var db = await PostgresTestDatabase.CreateFromSetupScriptAsync();
        await AsSuperuserAsync(db, $"ALTER FUNCTION {DatabaseMigrator.FullTextMatchFunction} NOT LEAKPROOF");
        var first = new ListLogger<DatabaseMigrator>();
        var second = new ListLogger<DatabaseMigrator>();

        await MigrateAsync(db, first);
        await MigrateAsync(db, second);

        Assert.False(await LeakproofAsync(db.OwnerConnectionString));
        foreach (var log in new[] { first, second })
        {
            var warning = Assert.Single(log.Entries, e => e.Level == LogLevel.Warning);
            Assert.Contains("ts_match_vq", warning.Message, StringComparison.Ordinal);
            Assert.Contains("scripts/postgres-setup.sql", warning.Message, StringComparison.Ordinal);
            Assert.Contains(DatabaseMigrator.MarkFullTextLeakproofSql, warning.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Migrate_AsASuperuser_MarksTheFullTextMatchFunctionItself()
    {
        // The test database's migrator connection is the server's superuser (a development setup).
        await using var db = await PostgresTestDatabase.CreateAsync();
        await AsSuperuserAsync(db, $"ALTER FUNCTION {DatabaseMigrator.FullTextMatchFunction} NOT LEAKPROOF");
        var log = new ListLogger<DatabaseMigrator>();

        await MigrateAsync(db, log);

        Assert.True(await LeakproofAsync(db.OwnerConnectionString));
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Warning);
    }

    private static async Task MigrateAsync(PostgresTestDatabase db, ILogger<DatabaseMigrator> log)
    {
        var options = Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres });
        await new DatabaseMigrator(db.CreateFactory(), db.Connections, options, log).MigrateAsync(CancellationToken.None);
    }

    private static async Task AsSuperuserAsync(PostgresTestDatabase db, string sql)
    {
        var admin = new NpgsqlConnectionStringBuilder(PostgresTestDatabase.AdminConnectionString) { Database = db.Name, Pooling = false };
        await using var conn = new NpgsqlConnection(admin.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<bool> LeakproofAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT proleakproof FROM pg_proc WHERE oid = '{DatabaseMigrator.FullTextMatchFunction}'::regprocedure", conn);
        return (bool)(await cmd.ExecuteScalarAsync())!;
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
