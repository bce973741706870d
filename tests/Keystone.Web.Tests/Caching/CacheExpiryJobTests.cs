using Keystone.Data;
using Keystone.Data.Caching;
using Keystone.Testing;
using Keystone.Web.Features.Caching;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Caching;

/// <summary>The hourly cache expiry on one database; run on SQLite and PostgreSQL (pgvector column, RLS) below.</summary>
public abstract class CacheExpiryJobTests : IAsyncLifetime
{
    private static readonly float[] LiveVector = [0.6f, 0.8f];

    private IAsyncDisposable? _database;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(T0.AddDays(2)));

    private KeystoneDbFactory Factory { get; set; } = default!;

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        (_database, Factory) = await CreateDatabaseAsync();
        await SeedTenantsAsync(Factory);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task Run_DeletesOnlyExpiredRowsOfEveryTenant()
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        await using (var db = Factory.ForSystem())
        {
            foreach (var (tenant, expires, name) in new[] { (Acme, now.AddMinutes(-1), "old"), (Globex, now.AddMinutes(-5), "old"), (Acme, now.AddMinutes(30), "live") })
            {
                db.ExactCache.Add(new ExactCacheEntry { TenantId = tenant, Key = name + tenant.ToString("N")[..8], Alias = "fast", ResponseJson = "{}", CreatedUtc = now.AddHours(-1), ExpiresUtc = expires });
                db.SemanticCache.Add(new SemanticCacheEntry { TenantId = tenant, ContextKey = name, Question = name, Embedding = [.. LiveVector], Alias = "fast", ResponseJson = "{}", CreatedUtc = now.AddHours(-1), ExpiresUtc = expires });
                db.IdempotencyRecords.Add(new IdempotencyRecord { TenantId = tenant, Key = name + tenant.ToString("N")[..8], ResultJson = "{}", CreatedUtc = now.AddHours(-1), ExpiresUtc = expires });
            }

            await db.SaveChangesAsync();
        }

        var result = await new CacheExpiryJob(Factory, _clock, NullLogger<CacheExpiryJob>.Instance).RunAsync(CancellationToken.None);

        Assert.Equal(new CacheExpiryResult(2, 2, 2), result);
        await using var read = Factory.ForSystem();
        var semantic = Assert.Single(await read.SemanticCache.ToListAsync());
        Assert.Equal("live", semantic.Question);
        Assert.Equal(LiveVector, semantic.Embedding);
        Assert.StartsWith("live", Assert.Single(await read.ExactCache.ToListAsync()).Key, StringComparison.Ordinal);
        Assert.StartsWith("live", Assert.Single(await read.IdempotencyRecords.ToListAsync()).Key, StringComparison.Ordinal);
    }
}

public sealed class SqliteCacheExpiryJobTests : CacheExpiryJobTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}

public sealed class PostgresCacheExpiryJobTests : CacheExpiryJobTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}
