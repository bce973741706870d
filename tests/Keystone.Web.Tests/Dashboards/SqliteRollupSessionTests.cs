using Keystone.Testing;
using Keystone.Web.Features.Usage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using SQLitePCL;

namespace Keystone.Web.Tests.Dashboards;

/// <summary>
/// The SQLite rollup's session (issue 26, decision 0060): the run may fill a 128 MB page cache, and when it ends the
/// connection (back in the pool) keeps none of it and the freed memory goes back to the system, not into malloc's arenas.
/// SQLite only: PostgreSQL's session has no settings of its own (its memory is the server's).
/// </summary>
public sealed class SqliteRollupSessionTests
{
    [Fact]
    public async Task EndSession_AfterTheRunFilledTheCache_TheConnectionHoldsNoPagesAndHasItsDefaultsBack()
    {
        await using var database = await SqliteTestDatabase.CreateAsync();
        await using var db = database.CreateFactory().ForSystem();
        await db.Database.OpenConnectionAsync();
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        // 16 MB of rows, more than the default 2 MB cache and well inside the session's 128 MB.
        await db.Database.ExecuteSqlRawAsync(
            "CREATE TABLE filler(x BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) INSERT INTO filler SELECT randomblob(4000) FROM n;");
        var sql = new SqliteRollupSql();

        await sql.BeginSessionAsync(db.Database, CancellationToken.None);
        Assert.Equal(16_000_000L, await Scalar(connection, "SELECT sum(length(x)) FROM filler"));
        var filled = CacheUsed(connection);
        await sql.EndSessionAsync(db.Database);
        var after = CacheUsed(connection);

        Assert.True(filled > 12_000_000, $"the session's scan should have cached the table's pages; {filled:N0} bytes cached");
        // Without shrink_memory the default cache would still hold its 2 MB of the scan's pages.
        Assert.True(after < 512 * 1024, $"the connection kept {after:N0} bytes of page cache after the session");
        Assert.Equal(-2000L, await Scalar(connection, "PRAGMA cache_size"));
        Assert.Equal(0L, await Scalar(connection, "PRAGMA temp_store"));
        // The connection still works with its default cache.
        Assert.Equal(4000L, await Scalar(connection, "SELECT count(*) FROM filler"));
    }

    [Fact]
    public void TrimMalloc_AfterNativeMemoryWasFreed_GivesPagesBack()
    {
        if (!OperatingSystem.IsLinux())
        {
            // glibc's malloc_trim exists only there; elsewhere the call is a documented no-op.
            Assert.False(Keystone.Web.Hosting.NativeMemory.TrimMalloc());
            return;
        }

        // 32 MB in blocks below malloc's mmap threshold (as SQLite's pages are): freed, they stay inside the arena.
        var blocks = new List<nint>();
        var ones = Enumerable.Repeat((byte)1, 8192).ToArray();
        for (var i = 0; i < 4096; i++)
        {
            // AllocHGlobal is malloc on Linux; the copy makes the pages resident.
            var p = System.Runtime.InteropServices.Marshal.AllocHGlobal(8192);
            System.Runtime.InteropServices.Marshal.Copy(ones, 0, p, ones.Length);
            blocks.Add(p);
        }

        blocks.ForEach(System.Runtime.InteropServices.Marshal.FreeHGlobal);

        Assert.True(Keystone.Web.Hosting.NativeMemory.TrimMalloc());
    }

    private static int CacheUsed(SqliteConnection connection)
    {
        Assert.Equal(raw.SQLITE_OK, raw.sqlite3_db_status(connection.Handle!, raw.SQLITE_DBSTATUS_CACHE_USED, out var current, out _, 0));
        return current;
    }

    private static async Task<long> Scalar(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
