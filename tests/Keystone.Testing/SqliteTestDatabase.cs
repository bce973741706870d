using Keystone.Data;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Keystone.Testing;

/// <summary>A migrated SQLite database in a temporary file, deleted on dispose.</summary>
public sealed class SqliteTestDatabase : IAsyncDisposable
{
    private SqliteTestDatabase(string directory)
    {
        Directory = directory;
        Options = new DatabaseOptions { Provider = DatabaseProvider.Sqlite, SqlitePath = Path.Combine(directory, "keystone.db") };
    }

    /// <summary>The folder holding the database file.</summary>
    public string Directory { get; }

    public DatabaseOptions Options { get; }

    public KeystoneConnectionStrings Connections => new() { BaseDirectory = Directory };

    /// <summary>Creates and migrates a new database.</summary>
    public static async Task<SqliteTestDatabase> CreateAsync(CancellationToken ct = default)
    {
        var dir = Path.Combine(Path.GetTempPath(), "keystone-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(dir);
        var db = new SqliteTestDatabase(dir);
        await new DatabaseMigrator(db.CreateFactory(), db.Connections, Microsoft.Extensions.Options.Options.Create(db.Options),
            NullLogger<DatabaseMigrator>.Instance).MigrateAsync(ct);
        return db;
    }

    public KeystoneDbFactory CreateFactory() => new(Microsoft.Extensions.Options.Options.Create(Options), Connections);

    public ValueTask DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a finalizing connection: the temp folder is cleaned by the OS.
        }

        return ValueTask.CompletedTask;
    }
}
