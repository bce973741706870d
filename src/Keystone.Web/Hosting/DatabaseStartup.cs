using Keystone.Data;
using Keystone.Web.Platform;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Hosting;

/// <summary>
/// Brings the database up at start-up: migrations when the mode calls for them (embedded SQLite by
/// default; PostgreSQL only with <c>Database:MigrateOnStart=true</c>, otherwise via <c>--migrate</c>),
/// then the demo seed steps when <c>Seed:Demo</c> is on. Readiness reports until this is done.
/// </summary>
internal sealed class DatabaseStartup(
    IServiceProvider services,
    IOptions<DatabaseOptions> database,
    IOptions<SeedOptions> seed,
    StartupState state) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (database.Value.EffectiveMigrateOnStart)
        {
            await services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
        }

        if (seed.Value.Demo == true)
        {
            await using var scope = services.CreateAsyncScope();
            foreach (var step in scope.ServiceProvider.GetServices<IDemoSeedStep>().OrderBy(s => s.Order))
            {
                await step.RunAsync(cancellationToken);
            }
        }

        state.DatabaseReady = true;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
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
    /// Migrations and demo seed at start-up, and the state readiness reports on. Register before the gateway: hosted
    /// services start in registration order, and the price table is seeded into a migrated database.
    /// </summary>
    public static IServiceCollection AddKeystoneDatabaseStartup(this IServiceCollection services) => services
        .AddSingleton<StartupState>()
        .AddHostedService<DatabaseStartup>();
}

