using Keystone.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Keystone.Web.Hosting;

/// <summary>The start-up checks that differ between the database modes (run by <see cref="DatabaseStartup"/>).</summary>
internal interface IDatabaseStartupChecks
{
    /// <summary>What the schema lacks besides EF Core's migrations (Hangfire's tables), in words; null when nothing.</summary>
    Task<string?> MissingSchemaAsync(CancellationToken ct);

    /// <summary>Logs how many connections the instances may open against what the server allows; warns when they may not fit.</summary>
    Task<ConnectionBudget?> CheckConnectionsAsync(CancellationToken ct);
}

/// <summary>SQLite: Hangfire keeps its state in memory and there are no connection slots to share.</summary>
internal sealed class SqliteDatabaseStartupChecks : IDatabaseStartupChecks
{
    public Task<string?> MissingSchemaAsync(CancellationToken ct) => Task.FromResult<string?>(null);

    public Task<ConnectionBudget?> CheckConnectionsAsync(CancellationToken ct) => Task.FromResult<ConnectionBudget?>(null);
}

/// <summary>
/// PostgreSQL: Hangfire's schema must have been installed by <c>--migrate</c>, and every instance's pools
/// (<c>Database:MaxPoolSize</c> + <c>Database:JobWorkerCount</c> + 3) times <c>Database:ExpectedInstances</c> should fit
/// in the connections the server lets the application role open.
/// </summary>
internal sealed partial class PostgresDatabaseStartupChecks(
    KeystoneDbFactory dbFactory,
    IOptions<DatabaseOptions> options,
    ILogger<PostgresDatabaseStartupChecks> log) : IDatabaseStartupChecks
{
    public async Task<string?> MissingSchemaAsync(CancellationToken ct)
    {
        // Through a context, so the application pool serves it (the pool's own connection string keys another pool).
        await using var db = dbFactory.ForSystem();
        await db.Database.OpenConnectionAsync(ct);
        await using var command = new NpgsqlCommand("SELECT to_regclass(@table) IS NOT NULL", (NpgsqlConnection)db.Database.GetDbConnection());
        command.Parameters.AddWithValue("table", $"{HangfireSetup.PostgresSchema}.schema");
        return await command.ExecuteScalarAsync(ct) is true
            ? null
            : $"Hangfire's schema '{HangfireSetup.PostgresSchema}' is not installed (or the application role may not see it)";
    }

    public async Task<ConnectionBudget?> CheckConnectionsAsync(CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        await db.Database.OpenConnectionAsync(ct);
        // reserved_connections is PostgreSQL 16's (slots for pg_use_reserved_connections); 0 where it does not exist.
        await using var command = new NpgsqlCommand("""
            SELECT current_setting('max_connections')::int,
                   current_setting('superuser_reserved_connections')::int,
                   COALESCE(NULLIF(current_setting('reserved_connections', true), ''), '0')::int,
                   (SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user),
                   (SELECT datconnlimit FROM pg_database WHERE datname = current_database()),
                   current_user, current_database()
            """, (NpgsqlConnection)db.Database.GetDbConnection());
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var o = options.Value;
        var budget = ConnectionBudget.Of(
            o.ExpectedInstances, o.MaxPoolSize, o.JobsPoolSize,
            maxConnections: reader.GetInt32(0), superuserReserved: reader.GetInt32(1), reserved: reader.GetInt32(2),
            roleLimit: reader.GetInt32(3), databaseLimit: reader.GetInt32(4));
        var role = reader.GetString(5);
        var database = reader.GetString(6);
        if (budget.Fits)
        {
            LogFits(log, budget.Instances, budget.PerInstance, budget.Needed, budget.Limit, budget.LimitSource, role, database);
        }
        else
        {
            LogDoesNotFit(log, budget.Instances, budget.PerInstance, o.MaxPoolSize, o.JobsPoolSize, budget.Needed, budget.Limit,
                budget.LimitSource, role, database);
        }

        return budget;
    }

    [LoggerMessage(EventId = 1100, Level = LogLevel.Information,
        Message = "PostgreSQL connections: {Instances} instance(s) × {PerInstance} = {Needed} of the {Limit} the {LimitSource} allows role {Role} on {Database}")]
    private static partial void LogFits(ILogger log, int instances, int perInstance, int needed, int limit, string limitSource, string role, string database);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning,
        Message = "PostgreSQL connections may run out: Database:ExpectedInstances {Instances} × {PerInstance} per instance "
            + "(Database:MaxPoolSize {AppPool} + Hangfire {JobsPool} + 1 listener) = {Needed}, but the {LimitSource} allows role {Role} only {Limit} on {Database}. "
            + "Lower Database:MaxPoolSize or Database:JobWorkerCount, or raise the limit (README: connection arithmetic); "
            + "until then instances beyond the limit fail to connect")]
    private static partial void LogDoesNotFit(ILogger log, int instances, int perInstance, int appPool, int jobsPool, int needed, int limit,
        string limitSource, string role, string database);
}

/// <summary>
/// The connection arithmetic of the scaled mode: what the instances may open against the tightest of the server's
/// limit (<c>max_connections</c> less the reserved slots), the role's <c>CONNECTION LIMIT</c> and the database's.
/// </summary>
internal sealed record ConnectionBudget(int Instances, int PerInstance, int Limit, string LimitSource)
{
    /// <summary>The most connections the instances open together.</summary>
    public int Needed => Instances * PerInstance;

    /// <summary>True when every instance's pools can be full at once.</summary>
    public bool Fits => Needed <= Limit;

    /// <summary>Works the budget out; a limit of -1 (PostgreSQL's "no limit") is left out.</summary>
    public static ConnectionBudget Of(int instances, int appPool, int jobsPool, int maxConnections, int superuserReserved, int reserved,
        int roleLimit, int databaseLimit)
    {
        var limit = maxConnections - superuserReserved - reserved;
        var source = "server (max_connections less reserved slots)";
        if (roleLimit >= 0 && roleLimit < limit)
        {
            (limit, source) = (roleLimit, "role's CONNECTION LIMIT");
        }

        if (databaseLimit >= 0 && databaseLimit < limit)
        {
            (limit, source) = (databaseLimit, "database's CONNECTION LIMIT");
        }

        return new ConnectionBudget(instances, appPool + jobsPool + DatabaseOptions.ListenerConnections, limit, source);
    }
}
