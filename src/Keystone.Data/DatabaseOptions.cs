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

/// <summary>The <c>Database</c> configuration section.</summary>
public sealed class DatabaseOptions
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
}
