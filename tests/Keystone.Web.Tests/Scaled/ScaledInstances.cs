using System.Diagnostics;
using Keystone.Testing;
using Keystone.Web.Hosting;
using Npgsql;

namespace Keystone.Web.Tests.Scaled;

/// <summary>Instances of the app in the scaled mode on one PostgreSQL test database, and the README's commands.</summary>
internal static class ScaledInstances
{
    /// <summary>
    /// One instance as the application role. <paramref name="name"/> goes into the connection string's Application Name:
    /// instances in one test process would otherwise share EF Core's pool (Npgsql pools by connection string), where
    /// real instances, separate processes, each have their own.
    /// </summary>
    public static KeystoneAppFactory Instance(PostgresTestDatabase db, string name = "keystone") => new KeystoneAppFactory()
        .WithSetting("Database:Provider", "Postgres")
        .WithSetting("ConnectionStrings:Postgres", new NpgsqlConnectionStringBuilder(db.AppConnectionString) { ApplicationName = name }.ConnectionString)
        .WithSetting("ConnectionStrings:PostgresMigrator", db.OwnerConnectionString);

    /// <summary>A database migrated as <c>--migrate</c> does it (EF migrations, forced RLS, Hangfire's schema, grants).</summary>
    public static async Task<PostgresTestDatabase> MigratedAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        // Hangfire keeps one global log provider; an earlier test host may have left it pointing at a disposed logger factory.
        HangfireSetup.InstallPostgresSchema(db.Connections);
        // The migrating connections would otherwise stay open in their pool and count against a connection limit.
        NpgsqlConnection.ClearAllPools();
        return db;
    }

    /// <summary>
    /// Runs the built app as the README does (<c>dotnet Keystone.Web.dll &lt;args&gt;</c>, settings from environment
    /// variables); returns its exit code and everything it wrote.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAppAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Keystone.Web.dll");
        var start = new ProcessStartInfo("dotnet", [dll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
