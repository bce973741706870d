using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Keystone.Benchmarks.Api;
using Keystone.Data;
using Keystone.Data.Caching;
using Keystone.Data.Vectors;
using Keystone.Gateway;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Providers.Local;
using Keystone.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Pgvector.Npgsql;

namespace Keystone.Benchmarks.Embeddings;

/// <summary>
/// The local embedding model and the semantic cache's vector lookup (docs/benchmarks.md, "Local embeddings and the
/// semantic cache"): the model's load time and resident growth, texts per second one at a time and in batches of 32;
/// then a semantic-cache lookup (<see cref="SemanticCache.FindAsync"/>: the vector search and the winner's answer) at
/// N entries of one tenant in one context, with the vector search alone beside it and the bare SIMD scan as the floor (the worst case: a support bot's one system prompt), with as many entries of
/// a second tenant beside them, on SQLite and on PostgreSQL (target: p99 ≤ 5 ms at 10,000).
/// </summary>
internal static class EmbeddingReport
{
    private const int Lookups = 1_000;
    private const string Context = "bench-context";
    private const string Model = "local/all-MiniLM-L6-v2";

    public static async Task<string> RunAsync(int entries, bool postgres)
    {
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores; load average at start {LoadAverage()}.");
        report.AppendLine();
        await ModelAsync(report);
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Semantic-cache lookup, {entries:N0} entries of one tenant in one context (+ {entries:N0} of another tenant), {LocalEmbeddingModel.Dimensions} dimensions, {Lookups:N0} lookups (half near-repeats, half new questions):");
        report.AppendLine();
        report.AppendLine("| Database | lookup p50 | lookup p99 | vector search alone p50 / p99 | hits |");
        report.AppendLine("|---|---|---|---|---|");
        await using (var sqlite = await SqliteTestDatabase.CreateAsync())
        {
            var factory = sqlite.CreateFactory();
            report.AppendLine(await LookupAsync("SQLite (in-memory SIMD scan)", factory, entries, new SqliteVectorSearch(factory, TimeProvider.System)));
            report.AppendLine();
            report.AppendLine(ScanOnly(entries));
            report.AppendLine();
        }

        if (postgres)
        {
            await using var pg = await PostgresTestDatabase.CreateAsync();
            // Rows go in before the HNSW index is built (one bulk build instead of 20,000 index inserts), as a restore would.
            var index = SemanticCacheEntry.HnswIndexName(LocalEmbeddingModel.Dimensions);
            await OwnerAsync(pg, $"DROP INDEX {index}");
            var pgFactory = pg.CreateFactory();
            report.AppendLine(await LookupAsync("PostgreSQL (pgvector HNSW)", pgFactory, entries, new PostgresVectorSearch(pgFactory),
                afterSeeding: () => OwnerAsync(pg, $"""
                    SET maintenance_work_mem = '256MB';
                    CREATE INDEX {index} ON semantic_cache_entries USING hnsw ((embedding::vector({LocalEmbeddingModel.Dimensions})) vector_cosine_ops)
                    WHERE vector_dims(embedding) = {LocalEmbeddingModel.Dimensions};
                    ANALYZE semantic_cache_entries;
                    """)));
            report.AppendLine();
            report.AppendLine("PostgreSQL plan of one lookup (EXPLAIN ANALYZE, as the application role):");
            report.AppendLine();
            report.AppendLine("```");
            report.AppendLine(await ExplainAsync(pg));
            report.AppendLine("```");
        }

        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Load average at the end: {LoadAverage()}.");
        return report.ToString();
    }

    private static async Task ModelAsync(StringBuilder report)
    {
        var rssBefore = Rss();
        var clock = Stopwatch.StartNew();
        LocalEmbeddingModel.Embed(["load"], CancellationToken.None);
        var loadMs = clock.Elapsed.TotalMilliseconds;
        var rssAfter = Rss();
        var texts = Enumerable.Range(0, 256).Select(i => $"Customer question {i}: how do I change the billing address on account {i * 7919}?").ToArray();
        for (var i = 0; i < 20; i++)
        {
            LocalEmbeddingModel.Embed([texts[i]], CancellationToken.None);
        }

        var single = Rate(() => { LocalEmbeddingModel.Embed([texts[Random.Shared.Next(texts.Length)]], CancellationToken.None); return 1; });
        var batch = Rate(() => { var start = Random.Shared.Next(texts.Length - 32); LocalEmbeddingModel.Embed(texts[start..(start + 32)], CancellationToken.None); return 32; });
        var chunk = string.Join(' ', Enumerable.Repeat("The refund policy covers orders returned within thirty days of delivery, unused and in their box.", 20));
        var chunks = Rate(() => { LocalEmbeddingModel.Embed(Enumerable.Repeat(chunk, 32).ToArray(), CancellationToken.None); return 32; });
        await Task.CompletedTask;
        report.AppendLine(CultureInfo.InvariantCulture, $"Local model ({LocalEmbeddingModel.Name}, {LocalEmbeddingModel.Dimensions} dimensions, ONNX Runtime on the CPU, {Environment.ProcessorCount} cores):");
        report.AppendLine();
        report.AppendLine("| What | Result |");
        report.AppendLine("|---|---|");
        report.AppendLine(CultureInfo.InvariantCulture, $"| First embedding (loads the model) | {loadMs:0} ms |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| Resident memory growth after loading | {(rssAfter - rssBefore) / 1e6:0} MB ({rssBefore / 1e6:0} → {rssAfter / 1e6:0} MB) |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| One question at a time (~15 words) | {single:0} texts/s ({1000 / single:0.0} ms each) |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| Batches of 32 questions | {batch:0} texts/s |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| Batches of 32 chunks of ~340 words (512 word pieces, the model's limit) | {chunks:0} texts/s |");
    }

    /// <summary>Texts per second over about 3 s.</summary>
    private static double Rate(Func<int> once)
    {
        var clock = Stopwatch.StartNew();
        var texts = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(3))
        {
            texts += once();
        }

        return texts / clock.Elapsed.TotalSeconds;
    }

    private static async Task OwnerAsync(PostgresTestDatabase pg, string sql)
    {
        await using var conn = new NpgsqlConnection(pg.OwnerConnectionString);
        await conn.OpenAsync();
        await using var command = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// The SIMD scan alone over <paramref name="entries"/> contiguous normalized rows (no database, no allocation per
    /// row): the floor under the SQLite lookup.
    /// </summary>
    private static string ScanOnly(int entries)
    {
        var dims = LocalEmbeddingModel.Dimensions;
        var random = new Random(7);
        var rows = new float[entries * dims];
        for (var i = 0; i < entries; i++)
        {
            Unit(random).CopyTo(rows.AsSpan(i * dims));
        }

        var query = Unit(random);
        var samples = new double[Lookups];
        var sink = 0f;
        for (var round = -50; round < Lookups; round++)
        {
            var start = Stopwatch.GetTimestamp();
            var best = float.NegativeInfinity;
            for (var i = 0; i < entries; i++)
            {
                best = Math.Max(best, System.Numerics.Tensors.TensorPrimitives.Dot(query, rows.AsSpan(i * dims, dims)));
            }

            sink += best;
            if (round >= 0)
            {
                samples[round] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }

        var p = Percentiles.Of(samples);
        return string.Create(CultureInfo.InvariantCulture,
            $"SIMD scan alone ({entries:N0} contiguous rows × {dims} floats, dot product of normalized vectors): p50 {p.P50:0.000} ms, p99 {p.P99:0.000} ms{(sink == 0 ? "" : "")}.");
    }

    private static async Task<string> LookupAsync(string name, KeystoneDbFactory factory, int entries, VectorSearch search, Func<Task>? afterSeeding = null)
    {
        var services = new ServiceCollection();
        services.AddOptions<GatewayOptions>();
        await using var provider = services.BuildServiceProvider();
        var cache = new SemanticCache(factory, search, provider.GetRequiredService<IOptionsMonitor<GatewayOptions>>(), TimeProvider.System);
        var tenant = Guid.NewGuid();
        var random = new Random(5);
        var clock = Stopwatch.StartNew();
        var stored = await SeedAsync(factory, tenant, entries, random);
        await SeedAsync(factory, Guid.NewGuid(), entries, random);
        if (afterSeeding is not null)
        {
            await afterSeeding();
        }

        Console.Error.WriteLine($"{name}: seeded {2 * entries:N0} entries in {clock.Elapsed.TotalSeconds:0.0} s");

        var queries = Enumerable.Range(0, Lookups).Select(i => i % 2 == 0 ? Nudge(stored[random.Next(stored.Count)], random, 0.1f) : Unit(random)).ToList();
        for (var i = 0; i < 50; i++)
        {
            await cache.FindAsync(tenant, Context, Model, queries[i], 0.9, CancellationToken.None);
        }

        var samples = new double[Lookups];
        var searchSamples = new double[Lookups];
        var hits = 0;
        for (var i = 0; i < Lookups; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var hit = await cache.FindAsync(tenant, Context, Model, queries[i], 0.9, CancellationToken.None);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            hits += hit is null ? 0 : 1;
        }

        // The vector search alone (what the lookup costs before reading the winner's answer).
        for (var i = 0; i < Lookups; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await search.NearestAsync(new VectorQuery(VectorTable.SemanticCache, tenant, Model, queries[i], 1) { ContextKey = Context, LiveAt = DateTime.UtcNow },
                CancellationToken.None);
            searchSamples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        var p = Percentiles.Of(samples);
        var s = Percentiles.Of(searchSamples);
        return string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {p.P50:0.00} ms | {p.P99:0.00} ms | {s.P50:0.00} / {s.P99:0.00} ms | {hits} of {Lookups} (expected {Lookups / 2}) |");
    }

    private static async Task<List<float[]>> SeedAsync(KeystoneDbFactory factory, Guid tenant, int entries, Random random)
    {
        var vectors = new List<float[]>(entries);
        var now = DateTime.UtcNow;
        // A realistic answer: the rows are as wide as the product's (the scan must step over them).
        var answer = JsonSerializer.Serialize(new CachedAnswer(string.Concat(Enumerable.Repeat("You can change it on the billing page. ", 20)), [], "stop",
            new Usage(40, 160)), ExactCache.JsonOptions);
        for (var done = 0; done < entries; done += 1_000)
        {
            await using var db = factory.ForTenant(tenant);
            for (var i = done; i < Math.Min(entries, done + 1_000); i++)
            {
                var v = Unit(random);
                vectors.Add(v);
                db.SemanticCache.Add(new SemanticCacheEntry
                {
                    TenantId = tenant, ContextKey = Context, Question = $"How do I change the billing address of order {i}?", Embedding = v,
                    EmbeddingModel = Model, Alias = "fast", Provider = "sim", Model = "sim-fast", ResponseJson = answer, CostMicros = 120,
                    CreatedUtc = now, ExpiresUtc = now.AddDays(1),
                });
            }

            await db.SaveChangesAsync();
        }

        return vectors;
    }

    private static async Task<string> ExplainAsync(PostgresTestDatabase pg)
    {
        var sources = new NpgsqlDataSourceBuilder(pg.AppConnectionString);
        sources.UseVector();
        await using var source = sources.Build();
        await using var conn = await source.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var all = new NpgsqlCommand("SELECT set_config('app.all_tenants', 'on', true)", conn, tx))
        {
            await all.ExecuteNonQueryAsync();
        }

        await using var first = new NpgsqlCommand("SELECT tenant_id FROM semantic_cache_entries ORDER BY id LIMIT 1", conn, tx);
        var tenant = (Guid)(await first.ExecuteScalarAsync())!;
        // As the lookup runs: one tenant set, the search settings of PostgresVectorSearch.
        await using (var set = new NpgsqlCommand(
            $"SELECT set_config('app.all_tenants', 'off', true), set_config('app.tenant_id', '{tenant}', true), set_config('hnsw.ef_search', '{PostgresVectorSearch.CacheEfSearch}', true), set_config('hnsw.iterative_scan', 'strict_order', true)",
            conn, tx))
        {
            await set.ExecuteNonQueryAsync();
        }

        var sql = PostgresVectorSearch.CacheSql(LocalEmbeddingModel.Dimensions).Replace("@limit", "1", StringComparison.Ordinal);
        await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, COSTS OFF) " + sql, conn, tx);
        explain.Parameters.AddWithValue("q", new Pgvector.Vector(Unit(new Random(9))));
        explain.Parameters.AddWithValue("tenant", tenant);
        explain.Parameters.AddWithValue("context", Context);
        explain.Parameters.AddWithValue("model", Model);
        explain.Parameters.AddWithValue("now", DateTime.UtcNow);
        var lines = new List<string>();
        await using var reader = await explain.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            // The query vector is printed in full: cut it.
            var line = reader.GetString(0);
            lines.Add(line.Length > 160 ? line[..160] + " …" : line);
        }

        return string.Join('\n', lines);
    }

    private static float[] Unit(Random random)
    {
        var v = new float[LocalEmbeddingModel.Dimensions];
        for (var i = 0; i < v.Length; i++)
        {
            v[i] = (float)(random.NextDouble() - 0.5);
        }

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

    private static long Rss()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
