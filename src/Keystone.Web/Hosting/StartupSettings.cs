using System.ComponentModel.DataAnnotations;
using Keystone.Data;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Hosting;

/// <summary>
/// Reads and checks the settings the host needs before the container is built (the database), so a
/// misspelled value stops the start with a message naming the setting instead of a stack trace later.
/// </summary>
internal static class StartupSettings
{
    /// <summary>
    /// Binds and validates the <c>Database</c> section (the only place that reads it: <see cref="AddKeystoneDatabaseOptions"/>
    /// registers the result) and resolves connection strings; throws <see cref="InvalidOperationException"/> naming the bad setting.
    /// </summary>
    public static (DatabaseOptions Database, KeystoneConnectionStrings Connections) ReadDatabase(
        IConfiguration configuration, string contentRoot)
    {
        var options = BindDatabase(configuration.GetSection(DatabaseOptions.SectionName));
        var postgres = configuration.GetConnectionString("Postgres");
        if (options.Provider == DatabaseProvider.Postgres && KeystoneConnectionStrings.ValidatePostgres(postgres) is { } error)
        {
            throw new InvalidOperationException($"Setting 'ConnectionStrings:Postgres': {error}");
        }

        var usePostgres = options.Provider == DatabaseProvider.Postgres;
        var connections = new KeystoneConnectionStrings
        {
            BaseDirectory = RepositoryRoot(contentRoot),
            // The pools' sizes come from Database:MaxPoolSize and Database:JobWorkerCount, so that one instance's
            // connections are known and several instances can be made to fit the server (README: connection arithmetic).
            Postgres = usePostgres ? KeystoneConnectionStrings.Pooled(postgres!, options.MaxPoolSize, options.PoolTimeout) : postgres,
            PostgresJobs = usePostgres ? KeystoneConnectionStrings.Pooled(postgres!, options.JobsPoolSize, options.PoolTimeout, "-jobs") : null,
            PostgresListener = usePostgres ? KeystoneConnectionStrings.Unpooled(postgres!, options.PoolTimeout, "-listen") : null,
            PostgresMigrator = configuration.GetConnectionString("PostgresMigrator") is { Length: > 0 } m2 ? m2 : null,
        };
        return (options, connections);
    }

    /// <summary>
    /// The options <see cref="ReadDatabase"/> bound and validated, as <c>IOptions&lt;DatabaseOptions&gt;</c> for the
    /// services that inject them, so the section is not bound a second time.
    /// </summary>
    public static IServiceCollection AddKeystoneDatabaseOptions(this IServiceCollection services, DatabaseOptions database)
        => services.AddSingleton(Options.Create(database));

    private static DatabaseOptions BindDatabase(IConfigurationSection section)
    {
        DatabaseOptions options;
        try
        {
            options = section.Get<DatabaseOptions>() ?? new DatabaseOptions();
        }
        catch (InvalidOperationException ex)
        {
            // The binder's message names the setting and its value ("value 'Postgress' at 'Database:Provider'"); add what each setting takes.
            throw new InvalidOperationException(
                $"{ex.Message} 'Database:Provider' is 'Sqlite' (embedded default) or 'Postgres'; 'Database:MigrateOnStart' is true or false; "
                + "'Database:MaxPoolSize', 'Database:JobWorkerCount' and 'Database:ExpectedInstances' are whole numbers; 'Database:PoolTimeout' is a time span (00:00:15).", ex);
        }

        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            throw new InvalidOperationException(string.Join(" ", results.Select(r =>
                $"Setting '{DatabaseOptions.SectionName}:{string.Join(", ", r.MemberNames)}': {r.ErrorMessage}")));
        }

        return options;
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
