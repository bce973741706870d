using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Platform;

/// <summary>
/// The lock every demo-seed writer holds, so that instances started together seed once: the first takes it and seeds,
/// the others wait, then find the data there (each step checks what exists after taking the lock).
/// </summary>
internal interface IDemoSeedLock
{
    /// <summary>Waits for the lock; disposing the result releases it.</summary>
    Task<IAsyncDisposable> AcquireAsync(CancellationToken ct);
}

/// <summary>SQLite: one instance per database file, and its seed steps run one after another; nothing to lock.</summary>
internal sealed class SqliteDemoSeedLock : IDemoSeedLock
{
    public Task<IAsyncDisposable> AcquireAsync(CancellationToken ct) => Task.FromResult<IAsyncDisposable>(Released.Instance);

    private sealed class Released : IAsyncDisposable
    {
        public static readonly Released Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>
/// PostgreSQL: a session advisory lock on the shared database, held on one connection of the application pool (a context
/// of <see cref="KeystoneDbFactory"/>, so that it counts against <c>Database:MaxPoolSize</c> like everything else) while
/// the seed runs. A crashed holder's session ends with its process, and the server releases the lock with it.
/// </summary>
internal sealed class PostgresDemoSeedLock(KeystoneDbFactory dbFactory) : IDemoSeedLock
{
    /// <summary>The advisory lock's key ("KSSEED" in ASCII): unique among the locks Keystone and Hangfire take.</summary>
    internal const long Key = 0x4B53_5345_4544;

    public async Task<IAsyncDisposable> AcquireAsync(CancellationToken ct)
    {
        var db = dbFactory.ForSystem();
        try
        {
            await db.Database.OpenConnectionAsync(ct);
            // Another instance may be seeding 60 days of history: wait as long as that takes (the start's token bounds it).
            db.Database.SetCommandTimeout(0);
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_lock({Key})", ct);
            return new Held(db);
        }
        catch
        {
            await db.DisposeAsync();
            throw;
        }
    }

    private sealed class Held(KeystoneDbContext db) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                // Unlocked explicitly: the pool keeps the session open after the context closes its connection.
                await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_unlock({Key})", CancellationToken.None);
            }
            finally
            {
                await db.DisposeAsync();
            }
        }
    }
}
