using System.Linq.Expressions;
using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Keystone.Data;
using Npgsql;

namespace Keystone.Web.Hosting;

/// <summary>
/// Hangfire: in-memory storage in the embedded mode (durable state lives in our own tables), PostgreSQL
/// storage in the scaled mode. Every recurring job is registered in <see cref="RecurringJobs"/>.
/// </summary>
internal static class HangfireSetup
{
    /// <summary>Hangfire's schema in PostgreSQL (created by <c>--migrate</c>).</summary>
    public const string PostgresSchema = "hangfire";

    /// <summary>How often a Hangfire server reports that it is alive.</summary>
    public static readonly TimeSpan ServerHeartbeat = TimeSpan.FromSeconds(10);

    /// <summary>A server silent for this long is taken off the servers list (by any live instance's watchdog).</summary>
    public static readonly TimeSpan ServerTimeout = TimeSpan.FromMinutes(1);

    /// <summary>How often each instance's watchdog looks for silent servers.</summary>
    public static readonly TimeSpan ServerCheckInterval = TimeSpan.FromSeconds(30);

    public static IServiceCollection AddKeystoneHangfire(this IServiceCollection services, DatabaseOptions database,
        KeystoneConnectionStrings connections)
    {
        // Each host builds its own storage and job activator, registered before AddHangfire so its TryAdd keeps them.
        // Hangfire's defaults read the process-wide JobStorage.Current lazily, on the first resolve: in a process with
        // several hosts (the test suites) a host could pick up the storage another host configured after it, and its
        // jobs ran in the wrong host, or in none. Production runs one host per process; this makes that not matter.
        services.AddSingleton<JobStorage>(_ =>
        {
            if (database.Provider != DatabaseProvider.Postgres)
            {
                return new InMemoryStorage();
            }

            var options = new PostgreSqlStorageOptions { SchemaName = PostgresSchema, PrepareSchemaIfNecessary = database.EffectiveMigrateOnStart };
            // Its own pool (Database:JobWorkerCount + 3 connections), apart from the one requests use.
            return new PostgreSqlStorage(new NpgsqlConnectionFactory(connections.PostgresJobs ?? connections.Postgres!, options), options);
        });
        services.AddSingleton<JobActivator>(sp => new AspNetCoreJobActivator(sp.GetRequiredService<IServiceScopeFactory>()));
        services.AddHangfire((provider, config) =>
        {
            config.UseLogProvider(new HangfireLogProvider(provider.GetRequiredService<ILoggerFactory>()));
            config.SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings();
        });
        services.AddHangfireServer(o =>
        {
            // Each running job uses the application pool (Database:MaxPoolSize) and Hangfire's own: a fixed count keeps
            // an instance's connections known whatever the machine's core count.
            o.WorkerCount = database.JobWorkerCount;
            o.Queues = ["default"];
            // Hangfire's defaults (heartbeat 30 s, timeout and check 5 min each) leave an instance killed with -9 on the
            // servers list for up to 10 minutes; with these it is gone within ServerTimeout + ServerCheckInterval.
            o.HeartbeatInterval = ServerHeartbeat;
            o.ServerTimeout = ServerTimeout;
            o.ServerCheckInterval = ServerCheckInterval;
        });
        services.AddHostedService<RecurringJobs>();
        return services;
    }

    /// <summary>The Hangfire dashboard at <c>/admin/jobs</c>, for platform admins only.</summary>
    public static IEndpointConventionBuilder MapKeystoneHangfireDashboard(this IEndpointRouteBuilder app)
        => app.MapHangfireDashboardWithNoAuthorizationFilters("/admin/jobs", new DashboardOptions
        {
            DashboardTitle = "Keystone jobs",
            AppPath = "/",
            DisplayStorageConnectionString = false,
        }).RequireAuthorization(Policies.PlatformAdmin);

    /// <summary>Installs Hangfire's PostgreSQL schema as the owner and grants the application role (run by <c>--migrate</c>).</summary>
    public static void InstallPostgresSchema(KeystoneConnectionStrings connections)
    {
        using var owner = new NpgsqlConnection(connections.PostgresMigrator ?? connections.Postgres);
        owner.Open();
        PostgreSqlObjectsInstaller.Install(owner, PostgresSchema);
        var appRole = PostgresRowLevelSecurity.RoleOf(connections.Postgres!);
        using var grant = owner.CreateCommand();
        grant.CommandText = $"""
            GRANT USAGE ON SCHEMA {PostgresSchema} TO "{appRole}";
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {PostgresSchema} TO "{appRole}";
            GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {PostgresSchema} TO "{appRole}";
            """;
        grant.ExecuteNonQuery();
    }
}

/// <summary>Applies every recurring schedule in one place (docs/decisions/0005-hangfire-storage-per-provider.md).</summary>
internal sealed class RecurringJobs(IRecurringJobManager jobs, IEnumerable<RecurringJobRegistration> registrations,
    ILogger<RecurringJobs> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var r in registrations)
        {
            r.Register(jobs);
            log.LogInformation("Recurring job {JobId} scheduled ({Cron})", r.Id, r.Cron);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>A recurring job a feature contributes; applied by <see cref="RecurringJobs"/>.</summary>
internal sealed record RecurringJobRegistration(string Id, string Cron, Action<IRecurringJobManager> Register);

/// <summary>The one way a feature registers a recurring job: the job class (created per run by DI), its id, its schedule (UTC).</summary>
internal static class RecurringJobRegistrations
{
    public static IServiceCollection AddRecurringJob<TJob>(this IServiceCollection services, string id, string cron,
        Expression<Func<TJob, Task>> run) where TJob : class
        => services.AddRecurringJob(id, _ => cron, run);

    /// <summary>For a schedule that comes from validated options (read when the schedules are applied).</summary>
    public static IServiceCollection AddRecurringJob<TJob>(this IServiceCollection services, string id, Func<IServiceProvider, string> cron,
        Expression<Func<TJob, Task>> run) where TJob : class
    {
        services.AddTransient<TJob>();
        return services.AddSingleton(sp =>
        {
            var schedule = cron(sp);
            return new RecurringJobRegistration(id, schedule,
                jobs => jobs.AddOrUpdate(id, run, schedule, new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc }));
        });
    }
}
