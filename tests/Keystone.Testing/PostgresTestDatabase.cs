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

    private readonly string[] _ownRoles;

    private PostgresTestDatabase(string name, string owner, string app, params string[] ownRoles)
    {
        Name = name;
        OwnerConnectionString = owner;
        AppConnectionString = app;
        _ownRoles = ownRoles;
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
            // As scripts/postgres-setup.sql does (decision 0055): full-text matching may use its GIN index under forced RLS.
            await Exec(conn, DatabaseMigrator.MarkFullTextLeakproofSql, ct);
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

    /// <summary>
    /// A new database set up by <c>scripts/postgres-setup.sql</c> exactly as the README runs it (as the superuser), with
    /// an owner role and an application role of its own, neither a superuser; not migrated. The roles are dropped
    /// with the database.
    /// </summary>
    public static async Task<PostgresTestDatabase> CreateFromSetupScriptAsync(CancellationToken ct = default)
    {
        var name = "ks_test_" + Guid.NewGuid().ToString("N")[..12];
        var variables = new Dictionary<string, string>
        {
            ["db"] = name,
            ["owner"] = name + "_owner",
            ["owner_password"] = "owner-" + Guid.NewGuid().ToString("N"),
            ["app"] = name + "_app",
            ["app_password"] = "app-" + Guid.NewGuid().ToString("N"),
        };
        var admin = new NpgsqlConnectionStringBuilder(AdminConnectionString);
        await CreateGate.WaitAsync(ct);
        try
        {
            // The same serialization as CreateAsync: CREATE DATABASE and CREATE ROLE race with other test processes.
            await using var gate = new NpgsqlConnection(admin.ConnectionString);
            await gate.OpenAsync(ct);
            await Exec(gate, "SELECT pg_advisory_lock(7340033)", ct);
            try
            {
                await RunPsqlScriptAsync(File.ReadAllText(SetupScriptPath), variables, admin, ct);
            }
            finally
            {
                await Exec(gate, "SELECT pg_advisory_unlock(7340033)", ct);
            }
        }
        finally
        {
            CreateGate.Release();
        }

        var owner = new NpgsqlConnectionStringBuilder(admin.ConnectionString)
        {
            Database = name, Username = variables["owner"], Password = variables["owner_password"], Pooling = true,
        };
        var app = new NpgsqlConnectionStringBuilder(admin.ConnectionString)
        {
            Database = name, Username = variables["app"], Password = variables["app_password"], Pooling = true,
        };
        return new PostgresTestDatabase(name, owner.ConnectionString, app.ConnectionString, variables["app"], variables["owner"]);
    }

    /// <summary>The README's setup script, <c>scripts/postgres-setup.sql</c> in the repository.</summary>
    public static string SetupScriptPath
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var script = Path.Combine(dir.FullName, "scripts", "postgres-setup.sql");
                if (File.Exists(script))
                {
                    return script;
                }
            }

            throw new FileNotFoundException("scripts/postgres-setup.sql not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>
    /// Caps the connections every non-superuser role may open to this database (<c>ALTER DATABASE … CONNECTION LIMIT</c>):
    /// a small server in miniature, without reconfiguring the shared cluster.
    /// </summary>
    public async Task SetConnectionLimitAsync(int limit, CancellationToken ct = default)
    {
        await using var conn = new NpgsqlConnection(AdminConnectionString);
        await conn.OpenAsync(ct);
        await Exec(conn, $"ALTER DATABASE \"{Name}\" CONNECTION LIMIT {limit}", ct);
    }

    /// <summary>
    /// Runs a psql script the way <c>psql -v name=value -f</c> would, for the little psql the setup script uses:
    /// <c>:"name"</c> (an identifier), <c>:'name'</c> (a literal), <c>\connect :"db"</c>, one statement per <c>;</c> at a
    /// line's end (each on its own, as psql sends them: CREATE DATABASE may not run inside a transaction block).
    /// </summary>
    private static async Task RunPsqlScriptAsync(string script, Dictionary<string, string> variables,
        NpgsqlConnectionStringBuilder admin, CancellationToken ct)
    {
        var database = admin.Database;
        var statement = new System.Text.StringBuilder();
        NpgsqlConnection? conn = null;
        try
        {
            foreach (var raw in script.Split('\n'))
            {
                if (raw.StartsWith("--", StringComparison.Ordinal) || raw.Trim().Length == 0)
                {
                    continue;
                }

                var line = System.Text.RegularExpressions.Regex.Replace(raw.TrimEnd(), @":(""|')([A-Za-z_]+)\1", m =>
                {
                    var value = variables[m.Groups[2].Value];
                    return m.Groups[1].Value == "\""
                        ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
                        : "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
                });

                if (line.StartsWith("\\connect ", StringComparison.Ordinal))
                {
                    database = line["\\connect ".Length..].Trim().Trim('"').Replace("\"\"", "\"", StringComparison.Ordinal);
                    if (conn is not null)
                    {
                        await conn.DisposeAsync();
                        conn = null;
                    }

                    continue;
                }

                statement.AppendLine(line);
                if (line.EndsWith(';'))
                {
                    conn ??= await OpenAsync(new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = database, Pooling = false }, ct);
                    await Exec(conn, statement.ToString(), ct);
                    statement.Clear();
                }
            }
        }
        finally
        {
            if (conn is not null)
            {
                await conn.DisposeAsync();
            }
        }

        static async Task<NpgsqlConnection> OpenAsync(NpgsqlConnectionStringBuilder cs, CancellationToken ct)
        {
            var c = new NpgsqlConnection(cs.ConnectionString);
            await c.OpenAsync(ct);
            return c;
        }
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
        foreach (var role in _ownRoles)
        {
            await Exec(conn, $"DROP ROLE IF EXISTS \"{role}\"", CancellationToken.None);
        }
    }

    private static async Task Exec(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
