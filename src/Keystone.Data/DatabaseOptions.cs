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
    }
}
