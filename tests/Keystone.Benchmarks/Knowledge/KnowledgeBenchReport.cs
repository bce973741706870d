using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Knowledge;
using Keystone.Gateway.Providers.Local;
using Keystone.Testing;
using Keystone.Web.Features.Knowledge;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Keystone.Benchmarks.Knowledge;

/// <summary>
/// Knowledge at scale (docs/benchmarks.md, "Knowledge ingestion and retrieval at scale"): ingestion and embedding
/// throughput with the local model through the real write path (<see cref="KnowledgeIngestion"/>, then the outbox
/// job, <see cref="KnowledgeEmbeddingJob"/>), and retrieval latency at N chunks of one tenant with N more of another
/// tenant beside them, on SQLite and on PostgreSQL (HNSW, built after the rows are in, as a restore would).
/// Targets (issue 24): retrieval p95 under 50 ms on SQLite and under 20 ms with HNSW at 100,000 chunks.
/// </summary>
internal static class KnowledgeBenchReport
{
    private const int Queries = 200;
    private const int ChunksPerDocument = 20;
    private const string Model = "local/" + LocalEmbeddingModel.Name;

    /// <summary>
    /// Part codes: each chunk names one (so a code is in about chunks ÷ 5,000 of them) and each question asks about one —
    /// the selective word a real question has beside its common ones.
    /// </summary>
    private const int PartCodes = 5_000;

    /// <summary>Words the generated chunks and questions are made of (126, so every one is in nearly every chunk).</summary>
    private static readonly string[] Vocabulary = BuildVocabulary();

    public static async Task<string> RunAsync(int chunks, int ingestChunks, bool postgres, bool sqlite = true)
    {
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores; load average at start {LoadAverage()}.");
        report.AppendLine();
        report.AppendLine(Progress(await ThroughputAsync(ingestChunks)));
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture,
            $"Retrieval at {chunks:N0} chunks of one tenant (+ {chunks:N0} of another tenant), {LocalEmbeddingModel.Dimensions} dimensions, {Queries} questions, k = 5:");
        report.AppendLine();
        report.AppendLine("| Database | retrieve p50 | retrieve p95 | vector half p50 / p95 | text half p50 / p95 | question embedding p50 | the embedding through the gateway p50 / p95 | chunk fetch p50 / p95 | chunk fetch as before (tenant in the query) p50 / p95 | first question (word counts cold) | other tenant's chunks returned |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        var stages = new List<string>();
        if (sqlite)
        {
            var (row, stageRow) = await RetrievalAsync("SQLite (in-memory SIMD scan + FTS5)", new BenchAppFactory(), chunks, null);
            report.AppendLine(Progress(row));
            stages.Add(Progress(stageRow));
        }

        if (postgres)
        {
            await using var pg = await PostgresTestDatabase.CreateAsync();
            // Hangfire's schema installer logs through the provider of the last host, disposed by now: a silent one.
            Hangfire.Logging.LogProvider.SetCurrentLogProvider(new SilentHangfireLog());
            HangfireSetup.InstallPostgresSchema(pg.Connections);
            var app = new BenchAppFactory()
                .WithSetting("Database:Provider", "Postgres")
                .WithSetting("ConnectionStrings:Postgres", pg.AppConnectionString)
                .WithSetting("ConnectionStrings:PostgresMigrator", pg.OwnerConnectionString);
            var (row, stageRow) = await RetrievalAsync("PostgreSQL (pgvector HNSW + GIN tsvector)", app, chunks, pg);
            report.AppendLine(Progress(row));
            stages.Add(Progress(stageRow));
        }

        // Inside one retrieval (RetrievalStages): the text half (word choice + its query) runs beside the embedding and the
        // vector half; "text half's wait" is how long the retrieval still waited for it after the vector half.
        report.AppendLine();
        report.AppendLine("Stages inside the retrieval (p50 / p95, ms; the same 200 questions):");
        report.AppendLine();
        report.AppendLine("| Database | retrieve | embedding through the gateway | the model alone | gateway's own share (p50 of the difference per question) | vector half | text half (beside them) | of it: word choice (statistics) | text half's wait | fusion | chunk fetch |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var row in stages)
        {
            report.AppendLine(row);
        }

        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Load average at the end: {LoadAverage()}.");
        return report.ToString();
    }

    /// <summary>Uploads documents making about <paramref name="target"/> chunks, then runs the outbox job until it is empty.</summary>
    private static async Task<string> ThroughputAsync(int target)
    {
        using var app = new BenchAppFactory().WithLocalEmbeddings()
            .WithSetting("Knowledge:PauseEmbedding", "true")
            .WithSetting("Knowledge:MaxDocumentsPerTenant", "100000")
            .WithSetting("Logging:LogLevel:Default", "Warning");
        _ = app.Server;
        LocalEmbeddingModel.Embed(["load the model before the clock starts"], CancellationToken.None);
        var random = new Random(17);
        var documents = (target + ChunksPerDocument - 1) / ChunksPerDocument;
        var files = Enumerable.Range(0, documents).Select(d => new KnowledgeUpload($"bench-{d:D5}.md", Encoding.UTF8.GetBytes(Document(d, random)))).ToList();

        var clock = Stopwatch.StartNew();
        var stored = 0;
        foreach (var upload in files.Chunk(10))
        {
            using var scope = app.Services.CreateScope();
            var results = await scope.ServiceProvider.GetRequiredService<KnowledgeIngestion>().IngestAsync(DemoData.AcmeId, upload, [], CancellationToken.None);
            stored += results.Sum(r => r.Chunks);
        }

        var ingest = clock.Elapsed;
        clock.Restart();
        var job = ActivatorUtilities.CreateInstance<KnowledgeEmbeddingJob>(app.Services, TimeProvider.System);
        var embedded = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var run = await job.RunOnceAsync(CancellationToken.None);
            embedded += run.Embedded;
            if (run is { Batches: 0, Queued: 0 })
            {
                break;
            }
        }

        var embed = clock.Elapsed;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Ingestion and embedding through the write path and the outbox job (SQLite, local model, {documents:N0} markdown documents, product chunking defaults):");
        sb.AppendLine();
        sb.AppendLine("| Step | Chunks | Time | Chunks per second |");
        sb.AppendLine("|---|---|---|---|");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| Ingestion (parse, chunk, store chunks + outbox) | {stored:N0} | {ingest.TotalSeconds:0.0} s | {stored / ingest.TotalSeconds:0} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| Embedding job (batches of 32 through the gateway's `embed` alias) | {embedded:N0} | {embed.TotalSeconds:0.0} s | {embedded / embed.TotalSeconds:0.0} |");
        sb.Append(CultureInfo.InvariantCulture, $"| Both | {embedded:N0} | {(ingest + embed).TotalSeconds:0.0} s | {embedded / (ingest + embed).TotalSeconds:0.0} |");
        if (embedded != stored)
        {
            sb.AppendLine();
            sb.Append(CultureInfo.InvariantCulture, $"WARNING: {stored:N0} chunks stored but {embedded:N0} embedded.");
        }

        return sb.ToString();
    }

    private static async Task<(string Row, string Stages)> RetrievalAsync(string name, KeystoneAppFactory app, int chunks, PostgresTestDatabase? pg)
    {
        using var host = app.WithLocalEmbeddings().WithSetting("Knowledge:PauseEmbedding", "true").WithSetting("Logging:LogLevel:Default", "Warning");
        _ = host.Server;
        var factory = app.Services.GetRequiredService<KeystoneDbFactory>();
        if (pg is not null)
        {
            // Rows go in before the HNSW index is built (one bulk build instead of 2N index inserts).
            await OwnerAsync(pg, $"DROP INDEX IF EXISTS {KnowledgeModel.HnswIndexName(LocalEmbeddingModel.Dimensions)}");
        }

        var clock = Stopwatch.StartNew();
        var random = new Random(23);
        var acmeChunks = await SeedAsync(factory, DemoData.AcmeId, chunks, random);
        var globexChunks = await SeedAsync(factory, DemoData.GlobexId, chunks, random);
        if (pg is not null)
        {
            var dims = LocalEmbeddingModel.Dimensions;
            await OwnerAsync(pg, $"""
                SET maintenance_work_mem = '512MB';
                CREATE INDEX {KnowledgeModel.HnswIndexName(dims)} ON knowledge_embeddings USING hnsw ((vector::vector({dims})) vector_cosine_ops) WHERE dimensions = {dims};
                ANALYZE knowledge_embeddings; ANALYZE knowledge_chunks; ANALYZE knowledge_documents;
                """);
            // A bulk load leaves the rows in the GIN index's pending list, which makes the planner avoid the index until
            // (auto)vacuum merges it: measure the steady state a running system is in. VACUUM needs a command of its own
            // (it cannot run inside the implicit transaction of a multi-statement command).
            await OwnerAsync(pg, "VACUUM ANALYZE knowledge_chunks");
        }

        Console.Error.WriteLine($"{name}: seeded {acmeChunks.Count + globexChunks.Count:N0} chunks in {clock.Elapsed.TotalSeconds:0.0} s");
        var globex = globexChunks.ToHashSet();
        var questions = Enumerable.Range(0, Queries + 20).Select(_ => Question(random)).ToList();
        using var scope = app.Services.CreateScope();
        var retriever = scope.ServiceProvider.GetRequiredService<KnowledgeRetriever>();
        var search = app.Services.GetRequiredService<IKnowledgeSearch>();
        var filter = new RetrievalFilter(null, null);
        var (total, vector, text, embed, viaGateway) = (new double[Queries], new double[Queries], new double[Queries], new double[Queries], new double[Queries]);
        var (fetch, fetchBefore) = (new double[Queries], new double[Queries]);
        var gateway = app.Services.GetRequiredService<Keystone.Gateway.ILlmGateway>();
        var (sTotal, sEmbed, sWords, sText, sVector, sWait, sFuse, sFetch, sOverhead) = (new double[Queries], new double[Queries], new double[Queries],
            new double[Queries], new double[Queries], new double[Queries], new double[Queries], new double[Queries], new double[Queries]);
        var (dbCount, dbMs) = (new double[Queries], new double[Queries]);
        var statements = new Dictionary<string, int>();
        var commands = new System.Collections.Concurrent.ConcurrentBag<(string? Root, string Name, double Ms)>();
        using var listener = new ActivityListener
        {
            // Npgsql traces each command (PostgreSQL only); the bench's own activity gives them a root to be told apart by.
            ShouldListenTo = source => source.Name is "Npgsql" || source == BenchActivities,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if (a.Source.Name == "Npgsql" && a.Parent is not null)
                {
                    commands.Add((a.RootId, Summary(a), a.Duration.TotalMilliseconds));
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        var leaked = 0;
        var cold = 0.0;
        for (var i = -20; i < Queries; i++)
        {
            var q = questions[i + 20];
            var start = Stopwatch.GetTimestamp();
            var stages = new RetrievalStages();
            var result = await retriever.RetrieveAsync(DemoData.AcmeId, new RetrievalQuery(q, 5), null, CancellationToken.None, stages);
            var t1 = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            start = Stopwatch.GetTimestamp();
            var questionVector = LocalEmbeddingModel.Embed([q], CancellationToken.None).Vectors[0];
            var t4 = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            // The vector half with the question's own vector (the seeded vectors are random: the scan costs the same).
            start = Stopwatch.GetTimestamp();
            await search.VectorAsync(DemoData.AcmeId, Model, questionVector, filter, 50, CancellationToken.None);
            var t2 = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            start = Stopwatch.GetTimestamp();
            await search.TextAsync(DemoData.AcmeId, SearchWords.Of(q), filter, 50, CancellationToken.None);
            var t3 = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            // The question's embedding as the retriever asks for it: through the gateway (alias, budget, recording), with
            // the database commands it sends on its own flow (not the recorder's background writes) counted.
            start = Stopwatch.GetTimestamp();
            using (var call = BenchActivities.StartActivity("bench.embed"))
            {
                await gateway.EmbedAsync(new Keystone.Gateway.EmbeddingRequest { Model = "embed", Inputs = [q] },
                    new Keystone.Gateway.CallContext { TenantId = DemoData.AcmeId, Feature = KnowledgeEmbeddingJob.Feature }, CancellationToken.None);
                if (i >= 0 && call is not null)
                {
                    var mine = commands.Where(c => c.Root == call.RootId).ToList();
                    (dbCount[i], dbMs[i]) = (mine.Count, mine.Sum(c => c.Ms));
                    foreach (var c in mine)
                    {
                        statements[c.Name] = statements.GetValueOrDefault(c.Name) + 1;
                    }
                }
            }

            var t5 = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            // The last step: the cited chunks read by id, as the retriever does, and in the form it had before (the
            // tenant in the query beside the ids), to show what the planner made of it.
            List<Guid> cited = [.. result.Hits.Select(h => h.ChunkId)];
            start = Stopwatch.GetTimestamp();
            await retriever.ChunksAsync(DemoData.AcmeId, cited, CancellationToken.None);
            var t6 = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            start = Stopwatch.GetTimestamp();
            await ChunksAsBeforeAsync(factory, DemoData.AcmeId, cited);
            var t7 = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (i == -20)
            {
                // The first question counts the tenant's chunks and each of its words (then kept for minutes).
                cold = t1;
            }

            if (i >= 0)
            {
                (total[i], vector[i], text[i], embed[i], viaGateway[i], fetch[i], fetchBefore[i]) = (t1, t2, t3, t4, t5, t6, t7);
                leaked += result.Hits.Count(h => globex.Contains(h.ChunkId));
                (sTotal[i], sEmbed[i], sWords[i], sText[i], sVector[i], sWait[i], sFuse[i], sFetch[i]) =
                    (stages.TotalMs, stages.EmbedMs, stages.WordsMs, stages.TextMs, stages.VectorMs, stages.TextWaitMs, stages.FuseMs, stages.FetchMs);
                sOverhead[i] = stages.EmbedMs - t4;
            }
        }

        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: the gateway's embedding call sent {At(dbCount, 0.5):0} database commands at p50 ({At(dbCount, 0.95):0} at p95) taking {At(dbMs, 0.5):0.0} / {At(dbMs, 0.95):0.0} ms; per call: {string.Join("; ", statements.OrderByDescending(kv => kv.Value).Take(8).Select(kv => $"{kv.Value / (double)Queries:0.##}× {kv.Key}"))}"));
        var stageRow = string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {Pair(sTotal)} | {Pair(sEmbed)} | {Pair(embed)} | {At(sOverhead, 0.5):0.0} | {Pair(sVector)} | {Pair(sText)} | {Pair(sWords)} | {Pair(sWait)} | {Pair(sFuse)} | {Pair(sFetch)} |");
        return (string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {At(total, 0.5):0.0} ms | {At(total, 0.95):0.0} ms | {At(vector, 0.5):0.0} / {At(vector, 0.95):0.0} ms | {At(text, 0.5):0.0} / {At(text, 0.95):0.0} ms | {At(embed, 0.5):0.0} ms | {At(viaGateway, 0.5):0.0} / {At(viaGateway, 0.95):0.0} ms | {At(fetch, 0.5):0.0} / {At(fetch, 0.95):0.0} ms | {At(fetchBefore, 0.5):0.0} / {At(fetchBefore, 0.95):0.0} ms | {cold:0.0} ms | {leaked} |"), stageRow);
    }

    private static readonly ActivitySource BenchActivities = new("Keystone.Benchmarks.Knowledge");

    /// <summary>A command's first words (its kind and table), enough to tell the ledger's, the pricing's and the recorder's apart.</summary>
    private static string Summary(Activity a)
    {
        var text = (a.GetTagItem("db.query.text") ?? a.GetTagItem("db.statement"))?.ToString() ?? a.DisplayName;
        var flat = string.Join(' ', text.Split((char[])['\n', '\r', '\t', ' '], StringSplitOptions.RemoveEmptyEntries));
        return flat.Length > 70 ? flat[..70] : flat;
    }

    private static string Pair(double[] samples) => string.Create(CultureInfo.InvariantCulture, $"{At(samples, 0.5):0.0} / {At(samples, 0.95):0.0}");

    /// <summary>The chunk fetch as <see cref="KnowledgeRetriever"/> wrote it until issue 24's seventh session (for comparison).</summary>
    private static async Task ChunksAsBeforeAsync(KeystoneDbFactory factory, Guid tenantId, List<Guid> ids)
    {
        await using var db = factory.ForTenant(tenantId);
        await db.Set<KnowledgeChunk>().AsNoTracking()
            .Where(c => c.TenantId == tenantId && ids.Contains(c.Id))
            .Join(db.Set<KnowledgeDocument>(), c => c.DocumentId, d => d.Id, (c, d) => new { c.Id, c.DocumentId, d.Name, d.Title, c.Section, c.Position, c.Header, c.Text })
            .ToDictionaryAsync(r => r.Id);
    }

    /// <summary>
    /// <paramref name="chunks"/> chunks of the tenant in documents of <see cref="ChunksPerDocument"/>, each with a random
    /// unit vector of the local model (the scan's cost does not depend on what the vectors mean) and text from the
    /// vocabulary; written with EF Core in batches (the SQLite FTS5 triggers and PostgreSQL's generated tsvector run as
    /// for any chunk). Returns the chunk ids.
    /// </summary>
    private static async Task<List<Guid>> SeedAsync(KeystoneDbFactory factory, Guid tenant, int chunks, Random random)
    {
        var ids = new List<Guid>(chunks);
        var now = DateTime.UtcNow;
        var prefix = Guid.NewGuid().ToString("N")[..6];
        for (var done = 0; done < chunks;)
        {
            await using var db = factory.ForTenant(tenant);
            db.ChangeTracker.AutoDetectChangesEnabled = false;
            for (var d = 0; d < 50 && done < chunks; d++)
            {
                var document = new KnowledgeDocument
                {
                    Id = Guid.CreateVersion7(), TenantId = tenant, Name = $"seed-{prefix}-{done / ChunksPerDocument:D6}.md", Title = "Seed", Kind = "markdown",
                    ContentHash = Guid.NewGuid().ToString("N"), CreatedUtc = now, UpdatedUtc = now,
                };
                db.Add(document);
                var inDocument = Math.Min(ChunksPerDocument, chunks - done);
                document.ChunkCount = inDocument;
                for (var c = 0; c < inDocument; c++, done++)
                {
                    var chunk = new KnowledgeChunk
                    {
                        Id = Guid.CreateVersion7(), TenantId = tenant, DocumentId = document.Id, Position = c, Section = $"Section {c}",
                        Header = $"Seed › Section {c}", Text = Sentence(random, 120) + $" See part {Part(random)}.", ContentHash = Guid.NewGuid().ToString("N"), TokenCount = 160,
                    };
                    db.Add(chunk);
                    db.Add(new KnowledgeEmbedding
                    {
                        ChunkId = chunk.Id, Model = Model, TenantId = tenant, DocumentId = document.Id, Dimensions = LocalEmbeddingModel.Dimensions,
                        Vector = Unit(random), CreatedUtc = now,
                    });
                    ids.Add(chunk.Id);
                }
            }

            await db.SaveChangesAsync();
        }

        return ids;
    }

    /// <summary>The sample at quantile <paramref name="q"/> (nearest rank).</summary>
    private static double At(double[] samples, double q)
    {
        var sorted = samples.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    private static string Document(int index, Random random)
    {
        var sb = new StringBuilder().Append(CultureInfo.InvariantCulture, $"# Handbook {index}\n\n");
        for (var s = 0; s < ChunksPerDocument; s++)
        {
            // About 380 words: one product-sized chunk (500 tokens) per section.
            sb.Append(CultureInfo.InvariantCulture, $"## Topic {s}\n\n");
            for (var p = 0; p < 4; p++)
            {
                sb.Append(Sentence(random, 95)).Append("\n\n");
            }
        }

        return sb.ToString();
    }

    private static string Question(Random random) => "How do I " + Sentence(random, 6).TrimEnd('.') + $" with part {Part(random)}?";

    private static string Part(Random random) => "p" + random.Next(PartCodes).ToString("D4", CultureInfo.InvariantCulture);

    private static string Sentence(Random random, int words)
    {
        var sb = new StringBuilder();
        for (var w = 0; w < words; w++)
        {
            sb.Append(w == 0 ? "" : w % 12 == 0 ? ". " : " ").Append(Vocabulary[random.Next(Vocabulary.Length)]);
        }

        return sb.Append('.').ToString();
    }

    private static string[] BuildVocabulary()
    {
        string[] stems = ["account", "billing", "invoice", "refund", "order", "parcel", "delivery", "password", "login", "device", "router", "printer",
            "network", "warranty", "repair", "battery", "charger", "screen", "update", "install", "backup", "restore", "export", "import", "report",
            "team", "member", "admin", "role", "plan", "upgrade", "cancel", "renew", "address", "payment", "card", "bank", "tax", "receipt", "support"];
        string[] verbs = ["change", "reset", "check", "open", "close", "send", "find", "remove", "add", "move", "copy", "pair", "sync", "connect", "clean"];
        string[] small = ["the", "a", "my", "your", "with", "for", "after", "before", "when", "if", "and", "or", "to", "from", "on", "in"];
        return [.. stems, .. verbs, .. small, .. stems.Select(s => s + "s"), .. verbs.Select(v => v + "ing")];
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

    private static async Task OwnerAsync(PostgresTestDatabase pg, string sql)
    {
        await using var conn = new NpgsqlConnection(pg.OwnerConnectionString);
        await conn.OpenAsync();
        await using var command = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// The test factory with Keystone.Web's folder as content root: under <c>dotnet run</c> the working directory is the
    /// repository root, where WebApplicationFactory would look for its manifest (as <c>ApiBenchmarkHost</c> does).
    /// </summary>
    private sealed class BenchAppFactory : KeystoneAppFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            var manifest = Path.Combine(AppContext.BaseDirectory, "MvcTestingAppManifest.json");
            var roots = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(manifest))!;
            builder.UseContentRoot(roots.First(r => r.Key.StartsWith("Keystone.Web,", StringComparison.Ordinal)).Value);
        }
    }

    /// <summary>Each part also goes to stderr as soon as it is measured (a later part's failure keeps the earlier ones).</summary>
    private static string Progress(string part)
    {
        Console.Error.WriteLine(part);
        return part;
    }

    private sealed class SilentHangfireLog : Hangfire.Logging.ILogProvider
    {
        public Hangfire.Logging.ILog GetLogger(string name) => new Silent();

        private sealed class Silent : Hangfire.Logging.ILog
        {
            public bool Log(Hangfire.Logging.LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null) => false;
        }
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
