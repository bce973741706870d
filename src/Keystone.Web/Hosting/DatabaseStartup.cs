using Keystone.Data;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Hosting;

/// <summary>
/// Brings the database up at start-up, before any other hosted service (Hangfire's server and schedules among them):
/// migrations when the mode calls for them (embedded SQLite by default; PostgreSQL only with
/// <c>Database:MigrateOnStart=true</c>), otherwise a check that <c>--migrate</c> has run, which stops the start at once
/// naming the command; the connection check of the scaled mode; then the demo seed steps when <c>Seed:Demo</c> is on,
/// under the seed lock so that instances started together seed once. Readiness reports until this is done.
/// </summary>
internal sealed partial class DatabaseStartup(
    IServiceProvider services,
    IOptions<DatabaseOptions> database,
    IOptions<SeedOptions> seed,
    IDatabaseStartupChecks checks,
    IDemoSeedLock seedLock,
    StartupState state,
    ILogger<DatabaseStartup> log) : IHostedService
{
    /// <summary>The command that migrates, as the README gives it.</summary>
    public const string MigrateCommand = "dotnet run --project src/Keystone.Web -- --migrate";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (database.Value.EffectiveMigrateOnStart)
        {
            await services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
        }
        else
        {
            await EnsureMigratedAsync(cancellationToken);
        }

        await checks.CheckConnectionsAsync(cancellationToken);

        if (seed.Value.Demo == true)
        {
            await using var held = await seedLock.AcquireAsync(cancellationToken);
            await using var scope = services.CreateAsyncScope();
            foreach (var step in scope.ServiceProvider.GetServices<IDemoSeedStep>().OrderBy(s => s.Order))
            {
                await step.RunAsync(cancellationToken);
            }
        }

        state.DatabaseReady = true;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Without this, an unmigrated database surfaced 30 seconds later as a Hangfire lock timeout (or as the first
    /// request's 500): fail now, saying what to run.
    /// </summary>
    private async Task EnsureMigratedAsync(CancellationToken ct)
    {
        List<string> pending;
        await using (var db = services.GetRequiredService<KeystoneDbFactory>().ForSystem())
        {
            pending = [.. await db.Database.GetPendingMigrationsAsync(ct)];
        }

        var missing = new List<string>();
        if (pending.Count > 0)
        {
            missing.Add($"{pending.Count} migration(s) are not applied (the first is {pending[0]})");
        }

        if (await checks.MissingSchemaAsync(ct) is { } schema)
        {
            missing.Add(schema);
        }

        if (missing.Count == 0)
        {
            return;
        }

        var message = $"The database is not migrated: {string.Join("; ", missing)}. Run `{MigrateCommand}` (or `dotnet Keystone.Web.dll --migrate`) "
            + "once, with ConnectionStrings:PostgresMigrator set to the owner role's connection, before starting any instance "
            + "(README: PostgreSQL + pgvector). Database:MigrateOnStart=true migrates at start instead.";
        LogNotMigrated(log, message);
        throw new InvalidOperationException(message);
    }

    [LoggerMessage(EventId = 1102, Level = LogLevel.Critical, Message = "{Message}")]
    private static partial void LogNotMigrated(ILogger log, string message);
}

/// <summary>What readiness reports on.</summary>
internal sealed class StartupState
{
    private volatile bool _databaseReady;

    public bool DatabaseReady { get => _databaseReady; set => _databaseReady = value; }
}

internal static class DatabaseStartupSetup
{
    /// <summary>
    /// Migrations (or the check that <c>--migrate</c> ran), the connection check and the demo seed at start-up, and the
    /// state readiness reports on. Register before Hangfire and the gateway: hosted services start in registration
    /// order, Hangfire's server and schedules need its schema, and the price table is seeded into a migrated database.
    /// </summary>
    public static IServiceCollection AddKeystoneDatabaseStartup(this IServiceCollection services) => services
        .AddSingleton<StartupState>()
        .AddPerDatabase<IDatabaseStartupChecks, SqliteDatabaseStartupChecks, PostgresDatabaseStartupChecks>()
        .AddPerDatabase<IDemoSeedLock, SqliteDemoSeedLock, PostgresDemoSeedLock>()
        .AddHostedService<DatabaseStartup>();
}

