using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Caching;

/// <summary>What one expiry run deleted.</summary>
internal sealed record CacheExpiryResult(int Exact, int Semantic, int Idempotency);

/// <summary>
/// Hourly: deletes exact- and semantic-cache entries and idempotency records past their expiry. Lookups already
/// ignore them; without this the tables (answers, embeddings) would only grow.
/// </summary>
internal sealed class CacheExpiryJob(KeystoneDbFactory dbFactory, TimeProvider clock, ILogger<CacheExpiryJob> log)
{
    public const string RecurringId = "gateway:cache-expiry";

    /// <summary>At minute 41, away from the rollups at the top of the hour and every five minutes.</summary>
    public const string Cron = "41 * * * *";

    public async Task<CacheExpiryResult> RunAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForSystem();
        var exact = await db.ExactCache.Where(e => e.ExpiresUtc <= now).ExecuteDeleteAsync(ct);
        var semantic = await db.SemanticCache.Where(e => e.ExpiresUtc <= now).ExecuteDeleteAsync(ct);
        var idempotency = await db.IdempotencyRecords.Where(e => e.ExpiresUtc <= now).ExecuteDeleteAsync(ct);
        log.LogInformation("Cache expiry: {Exact} exact, {Semantic} semantic, {Idempotency} idempotency rows deleted", exact, semantic, idempotency);
        return new CacheExpiryResult(exact, semantic, idempotency);
    }
}
