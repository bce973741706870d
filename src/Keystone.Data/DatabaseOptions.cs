using System.ComponentModel.DataAnnotations;

namespace Keystone.Data;

/// <summary>Which database Keystone runs on.</summary>
public enum DatabaseProvider
{
    /// <summary>Embedded SQLite file (the default).</summary>
    Sqlite,

    /// <summary>PostgreSQL + pgvector with row-level security.</summary>
    Postgres,
}

/// <summary>
/// The <c>Database</c> configuration section. Bound and validated once at start-up, before the container is built
/// (the host's registrations depend on the mode), and registered as that one object.
/// </summary>
public sealed class DatabaseOptions : IValidatableObject
{
    public const string SectionName = "Database";

    /// <summary>Which EF Core provider to use. Defaults to <c>Sqlite</c>.</summary>
    [Required]
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>
    /// SQLite file path; relative paths resolve against the repository root (the folder holding
    /// <c>Console.sln</c>) or, outside a checkout, the content root. Defaults to <c>data/keystone.db</c>.
    /// </summary>
    [Required]
    public string SqlitePath { get; set; } = "data/keystone.db";

    /// <summary>
    /// Apply pending migrations at start-up. Defaults to true in the embedded SQLite mode and false
    /// for PostgreSQL, where migrations run explicitly with <c>--migrate</c>.
    /// </summary>
    public bool? MigrateOnStart { get; set; }

    /// <summary>
    /// PostgreSQL: the most connections one instance's application pool opens (requests, the console, the call
    /// recorder, the rate-limit sync, job bodies). When all are busy, an operation waits in the pool's queue for up to
    /// <see cref="PoolTimeout"/> instead of opening one more. Defaults to 20 (2–1000); overrides a <c>Maximum Pool
    /// Size</c> in the connection string. One instance holds at most <see cref="ConnectionsPerInstance"/> connections.
    /// </summary>
    [Range(2, 1000)]
    public int MaxPoolSize { get; set; } = 20;

    /// <summary>
    /// Hangfire workers per instance (background jobs run at once). With PostgreSQL, Hangfire's own bookkeeping gets
    /// a separate pool of this many connections plus <see cref="JobsPoolOverhead"/> (heartbeat, schedulers, dashboard),
    /// so that jobs never take the connections requests need. Defaults to 4 (1–100).
    /// </summary>
    [Range(1, 100)]
    public int JobWorkerCount { get; set; } = 4;

    /// <summary>
    /// PostgreSQL: how long an operation waits for a free pooled connection (and for the server to accept a new one)
    /// before it fails; the API then answers 503 <c>database_busy</c>. Defaults to 15 seconds (whole seconds, 1–1024:
    /// Npgsql's <c>Timeout</c>).
    /// </summary>
    public TimeSpan PoolTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// PostgreSQL: how many instances share the database. Only read by the start-up check, which logs a warning when
    /// this many instances × <see cref="ConnectionsPerInstance"/> could pass what the server lets the application role
    /// open. Defaults to 1 (1–1000).
    /// </summary>
    [Range(1, 1000)]
    public int ExpectedInstances { get; set; } = 1;

    /// <summary>Connections of Hangfire's pool beyond one per worker: server heartbeat and watchdog, the schedulers, the dashboard.</summary>
    public const int JobsPoolOverhead = 3;

    /// <summary>PostgreSQL: the size of Hangfire's own pool (<see cref="JobWorkerCount"/> + <see cref="JobsPoolOverhead"/>).</summary>
    public int JobsPoolSize => JobWorkerCount + JobsPoolOverhead;

    /// <summary>
    /// The connection each PostgreSQL instance holds for its whole life to <c>LISTEN</c> for other instances' settings
    /// changes: outside the pools, so that it never takes a connection from requests.
    /// </summary>
    public const int ListenerConnections = 1;

    /// <summary>PostgreSQL: the most connections one instance opens (both pools and the listener).</summary>
    public int ConnectionsPerInstance => MaxPoolSize + JobsPoolSize + ListenerConnections;

    /// <summary><see cref="MigrateOnStart"/>, or its default for the mode: true with SQLite, false with PostgreSQL.</summary>
    public bool EffectiveMigrateOnStart => MigrateOnStart ?? IsEmbedded;

    /// <summary>True in the embedded SQLite mode, whose defaults favour trying the product (migrate and seed at start-up).</summary>
    public bool IsEmbedded => Provider == DatabaseProvider.Sqlite;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // The binder turns a number into any enum value, defined or not.
        if (!Enum.IsDefined(Provider))
        {
            yield return new ValidationResult(
                $"The value '{(int)Provider}' is not a database Keystone knows. Use 'Sqlite' (embedded default) or 'Postgres'.",
                [nameof(Provider)]);
        }

        if (PoolTimeout < TimeSpan.FromSeconds(1) || PoolTimeout > TimeSpan.FromSeconds(1024) || PoolTimeout.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            yield return new ValidationResult(
                $"'{PoolTimeout}' is not a whole number of seconds between 00:00:01 and 00:17:04 (Npgsql's connection Timeout).",
                [nameof(PoolTimeout)]);
        }
    }
}
