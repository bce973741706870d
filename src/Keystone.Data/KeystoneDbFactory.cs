using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Keystone.Data;

/// <summary>
/// Creates <see cref="KeystoneDbContext"/> instances for an explicit <see cref="TenantScope"/>. Singleton:
/// the provider options are built once. Request and circuit code uses the scoped
/// <c>IDbContextFactory&lt;KeystoneDbContext&gt;</c>, which takes its scope from <see cref="ITenantContext"/>;
/// background work (the gateway recorder, jobs) names its scope explicitly here.
/// </summary>
public sealed class KeystoneDbFactory
{
    private readonly DbContextOptions _options;

    private readonly string? _listenerConnectionString;

    public KeystoneDbFactory(IOptions<DatabaseOptions> options, KeystoneConnectionStrings connections)
    {
        _listenerConnectionString = connections.PostgresListener ?? connections.Postgres;
        Provider = options.Value.Provider;
        var builder = new DbContextOptionsBuilder();
        if (Provider == DatabaseProvider.Postgres)
        {
            ConfigurePostgres(builder, connections.Postgres
                ?? throw new InvalidOperationException("ConnectionStrings:Postgres is required when Database:Provider is Postgres."));
        }
        else
        {
            ConfigureSqlite(builder, connections.SqliteConnectionString(options.Value));
        }

        _options = builder.Options;
    }

    /// <summary>The provider in use.</summary>
    public DatabaseProvider Provider { get; }

    /// <summary>A new context that sees and writes only what <paramref name="scope"/> allows.</summary>
    public KeystoneDbContext Create(TenantScope scope) => Provider == DatabaseProvider.Postgres
        ? new PostgresKeystoneDbContext(_options, scope)
        : new SqliteKeystoneDbContext(_options, scope);

    /// <summary>Shortcut for one tenant.</summary>
    public KeystoneDbContext ForTenant(Guid tenantId) => Create(TenantScope.For(tenantId));

    /// <summary>Shortcut for system work across every tenant (jobs, rollups, seeding).</summary>
    public KeystoneDbContext ForSystem() => Create(TenantScope.All);

    /// <summary>
    /// PostgreSQL: a new, unopened connection outside every pool (<c>Application Name</c> <c>keystone-listen</c>), for
    /// a process-long <c>LISTEN</c>. Not a context: it reads no tenant data, and holding it must not shrink the pool
    /// requests use.
    /// </summary>
    public NpgsqlConnection CreateListenerConnection() => Provider == DatabaseProvider.Postgres
        ? new NpgsqlConnection(_listenerConnectionString)
        : throw new InvalidOperationException("Only the PostgreSQL mode listens for other instances.");

    internal static void ConfigureSqlite(DbContextOptionsBuilder builder, string connectionString)
        => builder.UseSqlite(connectionString, o => o.MigrationsHistoryTable("__ef_migrations"))
            .UseSnakeCaseNamingConvention();

    internal static void ConfigurePostgres(DbContextOptionsBuilder builder, string connectionString)
        => builder.UseNpgsql(connectionString, o =>
            {
                o.UseVector();
                o.MigrationsHistoryTable("__ef_migrations");
            })
            .UseSnakeCaseNamingConvention()
            .AddInterceptors(PostgresTenantInterceptor.Instance, PostgresTenantTransactionInterceptor.Instance);
}

/// <summary>Resolved connection strings (the SQLite path made absolute, the PostgreSQL strings as given).</summary>
public sealed class KeystoneConnectionStrings
{
    /// <summary>Folder relative SQLite paths resolve against.</summary>
    public required string BaseDirectory { get; init; }

    /// <summary>The application's PostgreSQL connection (a non-owner, non-superuser role).</summary>
    public string? Postgres { get; init; }

    /// <summary>The owner connection used by <c>--migrate</c> (defaults to <see cref="Postgres"/>).</summary>
    public string? PostgresMigrator { get; init; }

    /// <summary>
    /// Hangfire's connection: the application role with its own, smaller pool (defaults to <see cref="Postgres"/>).
    /// A separate pool so that jobs' bookkeeping never waits behind requests, nor requests behind it.
    /// </summary>
    public string? PostgresJobs { get; init; }

    /// <summary>
    /// The settings-change listener's connection: the application role, unpooled (defaults to <see cref="Postgres"/>),
    /// held open for the life of the process. Unpooled rather than a pool of one: two hosts in one process (tests)
    /// would share that pool and the second would wait for ever.
    /// </summary>
    public string? PostgresListener { get; init; }

    /// <summary>
    /// <paramref name="connectionString"/> with the pool the settings give it: at most <paramref name="maxPoolSize"/>
    /// connections, waiting up to <paramref name="timeout"/> for a free one (Npgsql queues callers rather than opening
    /// more), and shown in <c>pg_stat_activity</c> as its <c>Application Name</c> (default <c>keystone</c>) followed by
    /// <paramref name="nameSuffix"/>. The suffix also keeps two pools of one role apart: Npgsql pools by connection string.
    /// </summary>
    public static string Pooled(string connectionString, int maxPoolSize, TimeSpan timeout, string nameSuffix = "")
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = true,
            // The pool's reset on return is what ends a lease's tenant setting (PostgresTenantInterceptor).
            NoResetOnClose = false,
            MaxPoolSize = maxPoolSize,
            Timeout = (int)Math.Ceiling(timeout.TotalSeconds),
        };
        builder.MinPoolSize = Math.Min(builder.MinPoolSize, maxPoolSize);
        builder.ApplicationName = (string.IsNullOrEmpty(builder.ApplicationName) ? "keystone" : builder.ApplicationName) + nameSuffix;
        return builder.ConnectionString;
    }

    /// <summary>
    /// <paramref name="connectionString"/> for one dedicated connection outside every pool, named in
    /// <c>pg_stat_activity</c> like <see cref="Pooled"/>'s.
    /// </summary>
    public static string Unpooled(string connectionString, TimeSpan timeout, string nameSuffix)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            Timeout = (int)Math.Ceiling(timeout.TotalSeconds),
        };
        builder.ApplicationName = (string.IsNullOrEmpty(builder.ApplicationName) ? "keystone" : builder.ApplicationName) + nameSuffix;
        return builder.ConnectionString;
    }

    /// <summary>The absolute path of the SQLite file.</summary>
    public string SqliteFile(DatabaseOptions options) => Path.GetFullPath(Path.IsPathRooted(options.SqlitePath)
        ? options.SqlitePath
        : Path.Combine(BaseDirectory, options.SqlitePath));

    /// <summary>The SQLite connection string: shared cache off, a generous busy timeout for concurrent writers.</summary>
    public string SqliteConnectionString(DatabaseOptions options) => new SqliteConnectionStringBuilder
    {
        DataSource = SqliteFile(options),
        DefaultTimeout = 30,
        Pooling = true,
    }.ToString();

    /// <summary>Validates a PostgreSQL connection string so a typo fails the start with a clear message.</summary>
    public static string? ValidatePostgres(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return "ConnectionStrings:Postgres is required when Database:Provider is Postgres.";
        }

        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
            return null;
        }
        catch (ArgumentException ex)
        {
            return $"ConnectionStrings:Postgres is not a valid connection string: {ex.Message}";
        }
    }
}
