using Keystone.Data;

namespace Keystone.Web.Hosting;

/// <summary>
/// Reads and checks the settings the host needs before the container is built (the database), so a
/// misspelled value stops the start with a message naming the setting instead of a stack trace later.
/// </summary>
public static class StartupSettings
{
    /// <summary>Validates the <c>Database</c> section and resolves connection strings; throws <see cref="InvalidOperationException"/> naming the bad setting.</summary>
    public static (DatabaseOptions Database, KeystoneConnectionStrings Connections) ReadDatabase(
        IConfiguration configuration, string contentRoot)
    {
        var section = configuration.GetSection(DatabaseOptions.SectionName);
        var options = new DatabaseOptions();
        var provider = section["Provider"];
        if (!string.IsNullOrWhiteSpace(provider))
        {
            if (!Enum.TryParse<DatabaseProvider>(provider, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed))
            {
                throw new InvalidOperationException(
                    $"Setting 'Database:Provider' has the value '{provider}', which is not a database Keystone knows. Use 'Sqlite' (embedded default) or 'Postgres'.");
            }

            options.Provider = parsed;
        }

        options.SqlitePath = section["SqlitePath"] is { Length: > 0 } path ? path : options.SqlitePath;
        if (section["MigrateOnStart"] is { Length: > 0 } migrate)
        {
            options.MigrateOnStart = bool.TryParse(migrate, out var m)
                ? m
                : throw new InvalidOperationException($"Setting 'Database:MigrateOnStart' has the value '{migrate}'; use true or false.");
        }

        var postgres = configuration.GetConnectionString("Postgres");
        if (options.Provider == DatabaseProvider.Postgres && KeystoneConnectionStrings.ValidatePostgres(postgres) is { } error)
        {
            throw new InvalidOperationException($"Setting 'ConnectionStrings:Postgres': {error}");
        }

        var connections = new KeystoneConnectionStrings
        {
            BaseDirectory = RepositoryRoot(contentRoot),
            Postgres = postgres,
            PostgresMigrator = configuration.GetConnectionString("PostgresMigrator") is { Length: > 0 } m2 ? m2 : null,
        };
        return (options, connections);
    }

    /// <summary>The folder holding <c>Console.sln</c> above the content root or the app, else the content root.</summary>
    public static string RepositoryRoot(string contentRoot)
    {
        foreach (var start in new[] { contentRoot, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Console.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        return contentRoot;
    }
}
