using System.Data;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Usage;

/// <summary>PostgreSQL: a repeatable-read transaction, whose every statement sees the snapshot of its first.</summary>
internal sealed class PostgresUsageSnapshot : IUsageSnapshot
{
    public async Task<IAsyncDisposable> BeginAsync(KeystoneDbContext db, CancellationToken ct)
        => await db.Database.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);

    // timestamptz keeps microseconds and compares as a time: the watermark is the bound.
    public DateTime IngestedAfter(DateTime watermarkUtc) => watermarkUtc;
}
