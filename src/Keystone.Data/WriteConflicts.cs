using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keystone.Data;

/// <summary>
/// Recognises the database refusals that mean "another writer got there first" on either database, so a write can be
/// retried (the refusal came before anything was stored) or answered as a conflict instead of a server error.
/// </summary>
public static class WriteConflicts
{
    /// <summary>
    /// True for a unique or primary-key violation (SQLite 19 / 1555 / 2067, PostgreSQL 23505), a PostgreSQL
    /// serialization failure or deadlock (40001, 40P01), and SQLite's busy or locked database (5, 6): all mean the
    /// statement lost a race and changed nothing.
    /// </summary>
    public static bool IsConflict(Exception? ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SqliteException { SqliteErrorCode: 5 or 6 }:
                    return true;
                case SqliteException { SqliteErrorCode: 19 } s when s.SqliteExtendedErrorCode is 1555 or 2067:
                    return true;
                case PostgresException { SqlState: PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected }:
                    return true;
                case DbUpdateConcurrencyException:
                    return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Runs <paramref name="write"/> (which must open its own context, so a retry starts from what is stored now) and
    /// runs it again, up to <paramref name="attempts"/> times in all, when it loses a race (<see cref="IsConflict"/>).
    /// The last conflict is thrown to the caller, which answers it as a conflict (409), never as a server error.
    /// </summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> write, int attempts = 4)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await write();
            }
            catch (Exception ex) when (attempt < attempts && IsConflict(ex))
            {
                // A short, growing pause lets the winner commit; the next attempt reads its row.
                await Task.Delay(TimeSpan.FromMilliseconds(5 * attempt * Random.Shared.Next(1, 4)));
            }
        }
    }

    /// <inheritdoc cref="RetryAsync{T}(Func{Task{T}}, int)"/>
    public static Task RetryAsync(Func<Task> write, int attempts = 4)
        => RetryAsync(async () => { await write(); return true; }, attempts);
}
