using Keystone.Data;
using Keystone.Data.Caching;
using Keystone.Data.Calls;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Providers.Local;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>
/// The semantic cache on its vector machinery, on both databases: real meaning from the local model (a paraphrase is
/// served at zero cost, an unrelated question and another tenant are not), every live entry compared on SQLite (no
/// "newest 256" limit), the HNSW index on PostgreSQL, and vectors of different embedding models never compared.
/// </summary>
public sealed class SemanticCacheVectorTests : IAsyncLifetime
{
    private MockOpenAiServer _upstream = null!;

    public async Task InitializeAsync() => _upstream = await MockOpenAiServer.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private static CallContext Faq(Guid tenant) => new() { TenantId = tenant, Feature = "faq" };

    private Dictionary<string, string?> LocalSettings()
    {
        var settings = LocalEmbeddingsTests.WithLocalEmbed(SemanticCacheTests.Settings(_upstream));
        settings["Gateway:Features:faq:SemanticThreshold"] = "0.9";
        return settings;
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Complete_ParaphraseWithTheLocalModel_IsServedAtZeroCostWhileUnrelatedAndOtherTenantMiss(string database)
    {
        var (db, factory) = await LocalEmbeddingsTests.DatabaseAsync(database);
        await using var _ = db;
        var acme = await GatewayHarness.CreateTenantAsync(factory, "acme");
        var globex = await GatewayHarness.CreateTenantAsync(factory, "globex");
        await using var gateway = await GatewayHarness.CreateAsync(factory, LocalSettings());

        var first = await gateway.Gateway.CompleteAsync(SemanticCacheTests.Ask("How do I reset my password?"), Faq(acme), CancellationToken.None);
        var paraphrase = await gateway.Gateway.CompleteAsync(SemanticCacheTests.Ask("How can I reset my password?"), Faq(acme), CancellationToken.None);
        var unrelated = await gateway.Gateway.CompleteAsync(SemanticCacheTests.Ask("What is the capital of France?"), Faq(acme), CancellationToken.None);
        var otherTenant = await gateway.Gateway.CompleteAsync(SemanticCacheTests.Ask("How do I reset my password?"), Faq(globex), CancellationToken.None);
        await gateway.FlushAsync();

        Assert.Equal(CacheStatus.Semantic, paraphrase.Outcome.CacheStatus);
        Assert.Equal(first.Text, paraphrase.Text);
        Assert.InRange(paraphrase.Outcome.CacheSimilarity!.Value, 0.9, 1.0);
        Assert.Equal(0, paraphrase.Outcome.CostMicros);
        Assert.Equal(first.Outcome.CostMicros, paraphrase.Outcome.SavedCostMicros);
        Assert.Equal(CacheStatus.None, unrelated.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.None, otherTenant.Outcome.CacheStatus);
        Assert.Equal(3, _upstream.Requests.Count);
        await using var read = factory.ForTenant(acme);
        // The paraphrase's own lookup embedding was free too: the repeat cost nothing at all.
        var lookups = await read.Calls.AsNoTracking().Where(c => c.Alias == "embed").ToListAsync();
        Assert.Equal(3, lookups.Count);
        Assert.All(lookups, c => Assert.Equal(("local", 0L, BilledTo.Local, CostStatus.Exact), (c.Provider, c.CostMicros, c.BilledTo, c.CostStatus)));
        var stored = await read.SemanticCache.AsNoTracking().ToListAsync();
        Assert.Equal(2, stored.Count);
        Assert.All(stored, e => Assert.Equal("local/" + LocalEmbeddingModel.Name, e.EmbeddingModel));
        Assert.All(stored, e => Assert.Equal(LocalEmbeddingModel.Dimensions, e.Embedding.Length));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Complete_EmbeddingModelChanged_NeverServesAnAnswerEmbeddedByTheOldModel(string database)
    {
        var (db, factory) = await LocalEmbeddingsTests.DatabaseAsync(database);
        await using var _ = db;
        var acme = await GatewayHarness.CreateTenantAsync(factory, "acme");
        await using (var simulated = await GatewayHarness.CreateAsync(factory, SemanticCacheTests.Settings(_upstream)))
        {
            await simulated.Gateway.CompleteAsync(SemanticCacheTests.Ask("How do I reset my password?"), Faq(acme), CancellationToken.None);
        }

        await using var local = await GatewayHarness.CreateAsync(factory, LocalSettings());
        var same = await local.Gateway.CompleteAsync(SemanticCacheTests.Ask("How do I reset my password?"), Faq(acme), CancellationToken.None);
        var again = await local.Gateway.CompleteAsync(SemanticCacheTests.Ask("How do I reset my password?"), Faq(acme), CancellationToken.None);

        Assert.Equal(CacheStatus.None, same.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.Semantic, again.Outcome.CacheStatus);
        Assert.Equal(2, _upstream.Requests.Count);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Find_BestMatchIsTheOldestOfManyEntries_IsFoundAndNeverAnotherTenantsCloserOne(string database)
    {
        var (db, factory) = await LocalEmbeddingsTests.DatabaseAsync(database);
        await using var _ = db;
        var acme = await GatewayHarness.CreateTenantAsync(factory, "acme");
        var globex = await GatewayHarness.CreateTenantAsync(factory, "globex");
        await using var gateway = await GatewayHarness.CreateAsync(factory, LocalSettings());
        var cache = gateway.Services.GetRequiredService<SemanticCache>();
        const string Context = "ctx";
        const string Model = "test/unit-vectors";
        var random = new Random(11);
        var target = Unit(random);
        var now = DateTime.UtcNow;
        // The best match first (the oldest), then 400 newer unrelated entries: more than the old limit of 256 newest.
        await SeedAsync(factory, acme, Context, Model, [Nudge(target, random, 0.05f), .. Enumerable.Range(0, 400).Select(_ => Unit(random))], now);
        // Globex holds the exact vector, closer than anything of Acme's.
        await SeedAsync(factory, globex, Context, Model, [target], now);

        var hit = await cache.FindAsync(acme, Context, Model, target, 0.9, CancellationToken.None);
        var globexHit = await cache.FindAsync(globex, Context, Model, target, 0.9, CancellationToken.None);
        var otherModel = await cache.FindAsync(acme, Context, "test/other-model", target, 0.9, CancellationToken.None);

        Assert.NotNull(hit);
        Assert.Equal("answer 0", hit.Answer.Text);
        Assert.InRange(hit.Similarity!.Value, 0.9, 0.9999);
        Assert.Equal("answer 0", globexHit!.Answer.Text);
        Assert.Equal(1, globexHit.Similarity!.Value, tolerance: 1e-5);
        // Both modes filter on the model name as well as the context key (which names the model).
        Assert.Null(otherModel);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Find_RowsAddedDeletedOrExpiredSinceTheLastLookup_AreSeenAtTheNextOne(string database)
    {
        var (db, factory) = await LocalEmbeddingsTests.DatabaseAsync(database);
        await using var _ = db;
        var acme = await GatewayHarness.CreateTenantAsync(factory, "acme");
        await using var gateway = await GatewayHarness.CreateAsync(factory, LocalSettings());
        var cache = gateway.Services.GetRequiredService<SemanticCache>();
        var random = new Random(3);
        var (a, b) = (Unit(random), Unit(random));
        var now = DateTime.UtcNow;
        await SeedAsync(factory, acme, "ctx", "m", [a], now);
        var first = await cache.FindAsync(acme, "ctx", "m", a, 0.9, CancellationToken.None);

        // Written behind this instance's back (another process), then the first entry removed (the expiry job).
        await SeedAsync(factory, acme, "ctx", "m", [b], now);
        var added = await cache.FindAsync(acme, "ctx", "m", b, 0.9, CancellationToken.None);
        await using (var write = factory.ForTenant(acme))
        {
            var firstId = await write.SemanticCache.OrderBy(e => e.Id).Select(e => e.Id).FirstAsync();
            await write.SemanticCache.Where(e => e.Id == firstId).ExecuteDeleteAsync();
        }

        var deleted = await cache.FindAsync(acme, "ctx", "m", a, 0.9, CancellationToken.None);
        await SeedAsync(factory, acme, "ctx", "m", [a], now.AddHours(-2));
        var expired = await cache.FindAsync(acme, "ctx", "m", a, 0.9, CancellationToken.None);

        Assert.NotNull(first);
        Assert.Equal(1, added!.Similarity!.Value, tolerance: 1e-5);
        Assert.Null(deleted);
        Assert.Null(expired);
    }

    [Fact]
    public async Task Lookup_OnPostgres_CanWalkTheHnswIndexOfItsDimension()
    {
        await using var pg = await PostgresTestDatabase.CreateAsync();
        await using var conn = new NpgsqlConnection(pg.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var off = new NpgsqlCommand("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off", conn, tx))
        {
            await off.ExecuteNonQueryAsync();
        }

        var sql = Keystone.Data.Vectors.PostgresVectorSearch.CacheSql(LocalEmbeddingModel.Dimensions).Replace("@limit", "1", StringComparison.Ordinal)
            .Replace("@q", "'[" + string.Join(',', Enumerable.Repeat("0.05", LocalEmbeddingModel.Dimensions)) + "]'", StringComparison.Ordinal)
            .Replace("@tenant", "'" + Guid.NewGuid() + "'", StringComparison.Ordinal).Replace("@context", "'c'", StringComparison.Ordinal)
            .Replace("@model", "'m'", StringComparison.Ordinal).Replace("@now", "now()", StringComparison.Ordinal);
        await using var explain = new NpgsqlCommand("EXPLAIN " + sql, conn, tx);
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(0));
            }
        }

        // The query's cast and predicate match the partial expression index, so the planner can order by it.
        Assert.Contains(plan, line => line.Contains(SemanticCacheEntry.HnswIndexName(LocalEmbeddingModel.Dimensions), StringComparison.Ordinal));

        // The lookup's query, which reads the winner's answer with it, walks the same index.
        var entrySql = Keystone.Data.Vectors.PostgresVectorSearch.CacheEntrySql(LocalEmbeddingModel.Dimensions)
            .Replace("@q", "'[" + string.Join(',', Enumerable.Repeat("0.05", LocalEmbeddingModel.Dimensions)) + "]'", StringComparison.Ordinal)
            .Replace("@tenant", "'" + Guid.NewGuid() + "'", StringComparison.Ordinal).Replace("@context", "'c'", StringComparison.Ordinal)
            .Replace("@model", "'m'", StringComparison.Ordinal).Replace("@now", "now()", StringComparison.Ordinal)
            .Replace("@threshold", "0.9", StringComparison.Ordinal);
        await using var explainEntry = new NpgsqlCommand("EXPLAIN " + entrySql, conn, tx);
        var entryPlan = new List<string>();
        await using (var reader = await explainEntry.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                entryPlan.Add(reader.GetString(0));
            }
        }

        Assert.Contains(entryPlan, line => line.Contains(SemanticCacheEntry.HnswIndexName(LocalEmbeddingModel.Dimensions), StringComparison.Ordinal));
    }

    [Fact]
    public async Task CacheEntry_OnPostgres_IsReadWithItsSearchOnlyAtTheThreshold_AndThePooledConnectionKeepsNoTenant()
    {
        await using var pg = await PostgresTestDatabase.CreateAsync();
        // One pooled connection, not reset on its return: the connection checked after the lookups is the one they used,
        // as they left it.
        var connections = pg.Connections;
        var single = new KeystoneConnectionStrings
        {
            BaseDirectory = connections.BaseDirectory,
            Postgres = new NpgsqlConnectionStringBuilder(connections.Postgres) { MaxPoolSize = 1, NoResetOnClose = true }.ConnectionString,
            PostgresMigrator = connections.PostgresMigrator,
        };
        var factory = new KeystoneDbFactory(Microsoft.Extensions.Options.Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres }), single);
        var acme = await GatewayHarness.CreateTenantAsync(factory, "acme");
        var globex = await GatewayHarness.CreateTenantAsync(factory, "globex");
        var random = new Random(21);
        var stored = Unit(random);
        var source = Guid.NewGuid();
        await using (var db = factory.ForTenant(acme))
        {
            db.SemanticCache.Add(new SemanticCacheEntry
            {
                TenantId = acme, ContextKey = "ctx", Question = "q", Embedding = stored, EmbeddingModel = "m", Alias = "chat", Provider = "openai",
                Model = "gpt-test", CostMicros = 4_321, SourceCallId = source, ResponseJson = """{"text":"stored"}""",
                CreatedUtc = DateTime.UtcNow, ExpiresUtc = DateTime.UtcNow.AddHours(1),
            });
            await db.SaveChangesAsync();
        }

        var search = new Keystone.Data.Vectors.PostgresVectorSearch(factory);
        Keystone.Data.Vectors.VectorQuery Query(Guid tenant, float[] vector) => new(Keystone.Data.Vectors.VectorTable.SemanticCache, tenant, "m", vector, 1)
        {
            ContextKey = "ctx", LiveAt = DateTime.UtcNow,
        };

        var hit = await search.NearestCacheEntryAsync(Query(acme, Nudge(stored, random, 0.05f)), 0.9, CancellationToken.None);
        var below = await search.NearestCacheEntryAsync(Query(acme, Unit(random)), 0.9, CancellationToken.None);
        var otherTenant = await search.NearestCacheEntryAsync(Query(globex, stored), 0.0, CancellationToken.None);
        string? tenantAfter;
        await using (var db = factory.ForTenant(acme))
        {
            // Opened directly, as the lookup opens it: the tenant interceptor does not run, so this reads what the pool left.
            var connection = (NpgsqlConnection)db.Database.GetDbConnection();
            await connection.OpenAsync();
            await using var read = new NpgsqlCommand("SELECT coalesce(current_setting('app.tenant_id', true), '') || '/' || coalesce(current_setting('app.all_tenants', true), '')", connection);
            tenantAfter = (string?)await read.ExecuteScalarAsync();
        }

        Assert.NotNull(hit);
        Assert.InRange(hit.Similarity, 0.9, 1.0);
        Assert.Equal(new Keystone.Data.Vectors.CacheEntryAnswer("""{"text":"stored"}""", 4_321, source, "openai", "gpt-test"), hit.Answer);
        // A miss below the threshold still names the closest entry, without its answer.
        Assert.NotNull(below);
        Assert.True(below.Similarity < 0.9);
        Assert.Null(below.Answer);
        Assert.Null(otherTenant);
        Assert.DoesNotContain(acme.ToString(), tenantAfter, StringComparison.Ordinal);
        Assert.DoesNotContain("on", tenantAfter, StringComparison.Ordinal);

        // The batch's first statement sets the tenant and the walk's settings for the search that follows it, and for
        // nothing after: the same (only) pooled connection shows none of them afterwards.
        const string Settings = "SELECT current_setting('app.tenant_id', true), current_setting('app.all_tenants', true), current_setting('hnsw.ef_search', true), current_setting('hnsw.iterative_scan', true)";
        var during = await search.SearchAsync(acme, 37, "relaxed_order", Settings, [],
            r => (r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3)), CancellationToken.None);
        string? efAfter;
        await using (var db = factory.ForTenant(acme))
        {
            var connection = (NpgsqlConnection)db.Database.GetDbConnection();
            await connection.OpenAsync();
            await using var read = new NpgsqlCommand("SELECT coalesce(current_setting('hnsw.ef_search', true), '') || '/' || coalesce(current_setting('app.tenant_id', true), '')", connection);
            efAfter = (string?)await read.ExecuteScalarAsync();
        }

        Assert.Equal((acme.ToString(), "off", "37", "relaxed_order"), Assert.Single(during));
        Assert.DoesNotContain("37", efAfter, StringComparison.Ordinal);
        Assert.DoesNotContain(acme.ToString(), efAfter, StringComparison.Ordinal);
    }

    private static float[] Unit(Random random)
    {
        var v = Enumerable.Range(0, LocalEmbeddingModel.Dimensions).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return [.. v.Select(x => x / norm)];
    }

    private static float[] Nudge(float[] v, Random random, float by)
    {
        var noise = Unit(random);
        var nudged = v.Select((x, i) => x + (by * noise[i])).ToArray();
        var norm = MathF.Sqrt(nudged.Sum(x => x * x));
        return [.. nudged.Select(x => x / norm)];
    }

    private static async Task SeedAsync(KeystoneDbFactory factory, Guid tenant, string context, string model, IReadOnlyList<float[]> vectors, DateTime now)
    {
        await using var db = factory.ForTenant(tenant);
        for (var i = 0; i < vectors.Count; i++)
        {
            db.SemanticCache.Add(new SemanticCacheEntry
            {
                TenantId = tenant, ContextKey = context, Question = "q" + i, Embedding = vectors[i], EmbeddingModel = model, Alias = "chat",
                ResponseJson = System.Text.Json.JsonSerializer.Serialize(new CachedAnswer("answer " + i, [], "stop", new Usage(1, 1)), ExactCache.JsonOptions),
                CreatedUtc = now.AddMinutes(-vectors.Count + i), ExpiresUtc = now.AddHours(1),
            });
        }

        await db.SaveChangesAsync();
    }
}
