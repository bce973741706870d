using Microsoft.Data.Sqlite;
using Npgsql;

namespace Keystone.Data;

/// <summary>Sorts database failures the caller should retry from those that are bugs.</summary>
public static class DatabaseErrors
{
    /// <summary>
    /// True when <paramref name="error"/> (or an exception inside it) says the database is busy rather than wrong: no
    /// pooled connection came free within <c>Database:PoolTimeout</c>, the server had no connection slot (53300, 53400,
    /// 57P03), or SQLite stayed locked past its busy timeout. The API answers these 503 <c>database_busy</c>.
    /// </summary>
    public static bool IsBusy(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg when pg.SqlState is PostgresErrorCodes.TooManyConnections
                    or PostgresErrorCodes.ConfigurationLimitExceeded or PostgresErrorCodes.CannotConnectNow:
                    return true;
                // Npgsql's "connection pool has been exhausted" and a connect that timed out both carry a TimeoutException.
                case NpgsqlException { InnerException: TimeoutException }:
                    return true;
                case SqliteException { SqliteErrorCode: 5 or 6 }:
                    return true;
            }
        }

        return false;
    }
}
