using Keystone.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// SQLite: a deferred transaction. In WAL mode its first read fixes the snapshot every later read sees, and, unlike
/// EF's default <c>BEGIN IMMEDIATE</c>, it takes no write lock, so the recorder keeps writing while a page reads.
/// </summary>
internal sealed class SqliteUsageSnapshot : IUsageSnapshot
{
    public async Task<IAsyncDisposable> BeginAsync(KeystoneDbContext db, CancellationToken ct)
    {
        await db.Database.OpenConnectionAsync(ct);
        var transaction = ((SqliteConnection)db.Database.GetDbConnection()).BeginTransaction(deferred: true);
        var used = await db.Database.UseTransactionAsync(transaction, ct);
        return new Snapshot(used, transaction);
    }

    /// <summary>
    /// SQLite compares the times as text: the ingest time is written with exactly three fraction digits
    /// (<c>SqliteModel</c>), a <c>DateTime</c> parameter with trailing zeros trimmed, so the watermark itself would sort
    /// below its own call (<c>.120</c> after <c>.12</c>). The last tick of the watermark's millisecond sorts after it and
    /// before the next millisecond.
    /// </summary>
    public DateTime IngestedAfter(DateTime watermarkUtc)
        => watermarkUtc.AddTicks(-(watermarkUtc.Ticks % TimeSpan.TicksPerMillisecond)).AddTicks(TimeSpan.TicksPerMillisecond - 1);

    // EF does not own a transaction handed to UseTransaction: end both.
    private sealed class Snapshot(IDbContextTransaction? used, SqliteTransaction transaction) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            if (used is not null)
            {
                await used.DisposeAsync();
            }

            await transaction.DisposeAsync();
        }
    }
}
