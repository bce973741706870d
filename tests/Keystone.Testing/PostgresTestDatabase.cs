using Keystone.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Keystone.Testing;

/// <summary>
/// A fresh PostgreSQL database on the server the README's test command starts (or the one named by
/// <c>KEYSTONE_TEST_POSTGRES</c>, a superuser connection string), migrated as its owner, with an
/// application role that is neither owner nor superuser so row-level security really applies.
/// Dropped on dispose.
/// </summary>
public sealed class PostgresTestDatabase : IAsyncDisposable
{
    /// <summary>The superuser connection the test command sets up.</summary>
    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable("KEYSTONE_TEST_POSTGRES")
        ?? "Host=127.0.0.1;Port=5432;Username=keystone_test;Password=keystone_test;Database=postgres";

    /// <summary>The application role every test database grants (created once per server).</summary>
    public const string AppRole = "keystone_app";

    private const string AppPassword = "keystone_app";

    private static readonly SemaphoreSlim CreateGate = new(1, 1);

    private PostgresTestDatabase(string name, string owner, string app)
    {
        Name = name;
        OwnerConnectionString = owner;
        AppConnectionString = app;
    }

    public string Name { get; }

    /// <summary>Owner (migrations) connection string.</summary>
    public string OwnerConnectionString { get; }

    /// <summary>The application role's connection string (subject to RLS).</summary>
    public string AppConnectionString { get; }

    /// <summary>Creates, migrates and secures a new database.</summary>
    public static async Task<PostgresTestDatabase> CreateAsync(CancellationToken ct = default)
    {
        var name = "ks_test_" + Guid.NewGuid().ToString("N")[..12];
        var admin = new NpgsqlConnectionStringBuilder(AdminConnectionString);
        await using (var conn = new NpgsqlConnection(admin.ConnectionString))
        {
            await conn.OpenAsync(ct);
            // CREATE DATABASE copies template1 and fails (55006) while another session is copying it, and two
            // CREATE ROLEs race on pg_authid: serialize both across this process and across test processes.
            await CreateGate.WaitAsync(ct);
            try
            {
                await Exec(conn, "SELECT pg_advisory_lock(7340033)", ct);
                try
                {
                    await Exec(conn, $"""
                        DO $$BEGIN
                          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{AppRole}') THEN
                            CREATE ROLE {AppRole} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB PASSWORD '{AppPassword}';
                          END IF;
                        END$$;
                        """, ct);
                    await Exec(conn, $"CREATE DATABASE \"{name}\"", ct);
                }
                finally
                {
                    await Exec(conn, "SELECT pg_advisory_unlock(7340033)", ct);
                }
            }
            finally
            {
                CreateGate.Release();
            }
        }

        var owner = new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = name, Pooling = true };
        await using (var conn = new NpgsqlConnection(owner.ConnectionString))
        {
            await conn.OpenAsync(ct);
            // vector is not a trusted extension: a superuser creates it before migrations run.
            await Exec(conn, "CREATE EXTENSION IF NOT EXISTS vector", ct);
        }

        var app = new NpgsqlConnectionStringBuilder(admin.ConnectionString)
        {
            Database = name, Username = AppRole, Password = AppPassword, Pooling = true,
        };
        var db = new PostgresTestDatabase(name, owner.ConnectionString, app.ConnectionString);
        var connections = db.Connections;
        var factory = new KeystoneDbFactory(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres }), connections);
        await new DatabaseMigrator(factory, connections, Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres }),
            NullLogger<DatabaseMigrator>.Instance).MigrateAsync(ct);
        return db;
    }

    /// <summary>Connection strings for the app (app role) and the migrator (owner).</summary>
    public KeystoneConnectionStrings Connections => new()
    {
        BaseDirectory = Path.GetTempPath(),
        Postgres = AppConnectionString,
        PostgresMigrator = OwnerConnectionString,
    };

    /// <summary>A factory that connects as the application role.</summary>
    public KeystoneDbFactory CreateFactory() =>
        new(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres }), Connections);

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var conn = new NpgsqlConnection(AdminConnectionString);
        await conn.OpenAsync();
        await Exec(conn, $"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", CancellationToken.None);
    }

    private static async Task Exec(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
