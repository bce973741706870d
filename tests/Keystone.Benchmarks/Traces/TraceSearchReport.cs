using Keystone.Web.Platform;
using Stopwatch = System.Diagnostics.Stopwatch;
using System.Globalization;
using System.Text;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Tenancy;
using Keystone.Testing;
using Keystone.Web.Features.Traces;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Benchmarks.Traces;

/// <summary>
/// Trace search latency on the embedded SQLite database with a million traces: the real <see cref="TraceQueries"/>
/// and <see cref="TraceViewer"/> over the real schema (FTS5 included). The database is built once per size and
/// reused (<c>/tmp/keystone-bench-traces-N</c>), because generating it takes minutes.
/// </summary>
internal static class TraceSearchReport
{
    private const int Warmup = 3;
    private const int Samples = 30;
    private const int Tenants = 20;

    private static readonly string[] Features = ["support.chat", "search", "summarize", "classify", "extract", "draft", "translate", "agent"];
    private static readonly string[] Aliases = ["fast", "smart", "reasoning"];
    private static readonly string[] Vocabulary = BuildVocabulary();

    public static async Task<string> RunAsync(int rows, bool explain = false, bool measure = true)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"keystone-bench-traces-{rows}");
        var options = new DatabaseOptions { Provider = DatabaseProvider.Sqlite, SqlitePath = Path.Combine(dir, "keystone.db") };
        var connections = new KeystoneConnectionStrings { BaseDirectory = dir };
        var factory = new KeystoneDbFactory(Microsoft.Extensions.Options.Options.Create(options), connections);
        var build = Stopwatch.StartNew();
        var built = await EnsureDataAsync(factory, connections, options, rows);
        build.Stop();

        var tenant = TenantId(3);
        var now = Start.AddDays(90);
        var scoped = new TraceQueries(Scoped(factory, TenantScope.For(tenant)));
        var all = new TraceQueries(Scoped(factory, TenantScope.All));
        var explained = new List<(string Name, TenantScope Scope, TraceFilter Filter)>
        {
            ("tenant + feature + end user", TenantScope.For(tenant), new TraceFilter { Feature = "support.chat", User = "user-3-17" }),
            ("tenant, cost range, most expensive first", TenantScope.For(tenant), new TraceFilter { MinCostMicros = 2_000, MaxCostMicros = 4_000, Sort = TraceSort.Cost }),
            ("all tenants, model + latency > 2 s, slowest first", TenantScope.All, new TraceFilter { Model = "reasoning", MinLatencyMs = 2_000, Sort = TraceSort.Latency }),
            ("full text, common word, tenant (one window)", TenantScope.For(tenant), new TraceFilter { Text = Vocabulary[1], FromUtc = now.AddDays(-1) }),
            ("full text, two words + feature, tenant (one window)", TenantScope.For(tenant), new TraceFilter { Text = $"{Vocabulary[5]} {Vocabulary[40]}", Feature = "search", FromUtc = now.AddDays(-1) }),
        };
        var cases = new (string Name, string Kind, Func<Task<int>> Run)[]
        {
            ("tenant, newest first", "filtered", () => Count(scoped.SearchAsync(TraceFilter.Empty, null, 50, default))),
            ("tenant + feature + end user", "filtered", () => Count(scoped.SearchAsync(new TraceFilter { Feature = "support.chat", User = "user-3-17" }, null, 50, default))),
            ("all tenants, status error, last 7 days", "filtered", () => Count(all.SearchAsync(new TraceFilter { Status = TraceStatusFilter.Error, FromUtc = now.AddDays(-7) }, null, 50, default))),
            ("tenant, cost range, most expensive first", "filtered", () => Count(scoped.SearchAsync(new TraceFilter { MinCostMicros = 2_000, MaxCostMicros = 4_000, Sort = TraceSort.Cost }, null, 50, default))),
            ("all tenants, model + latency > 2 s, slowest first", "filtered", () => Count(all.SearchAsync(new TraceFilter { Model = "reasoning", MinLatencyMs = 2_000, Sort = TraceSort.Latency }, null, 50, default))),
            ("tenant, 3rd page (keyset)", "filtered", async () =>
            {
                var p1 = await scoped.SearchAsync(TraceFilter.Empty, null, 50, default);
                var p2 = await scoped.SearchAsync(TraceFilter.Empty, p1.NextCursor, 50, default);
                return (await scoped.SearchAsync(TraceFilter.Empty, p2.NextCursor, 50, default)).Rows.Count;
            }),
            ("full text, rare word, all tenants", "full-text", () => Count(all.SearchAsync(new TraceFilter { Text = "flamingo" }, null, 50, default))),
            ("full text, common word, tenant", "full-text", () => Count(scoped.SearchAsync(new TraceFilter { Text = Vocabulary[1] }, null, 50, default))),
            ("full text, two words + feature, tenant", "full-text", () => Count(scoped.SearchAsync(new TraceFilter { Text = $"{Vocabulary[5]} {Vocabulary[40]}", Feature = "search" }, null, 50, default))),
            ("full text, common word, all tenants", "full-text", () => Count(all.SearchAsync(new TraceFilter { Text = Vocabulary[2] }, null, 50, default))),
        };

        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine(inv, $"{rows:N0} calls with traces, {Tenants} tenants, 90 days; database {(built ? "built" : "reused")} in {build.Elapsed.TotalSeconds:N0} s " +
            $"({new FileInfo(options.SqlitePath).Length / 1024 / 1024:N0} MB). {Samples} samples per query after {Warmup} warm-ups, page size 50.");
        md.AppendLine();
        md.AppendLine("| Query | Kind | Rows | p50 ms | p95 ms | Target |");
        md.AppendLine("|---|---|---:|---:|---:|---|");
        foreach (var (name, kind, run) in measure ? cases : [])
        {
            var (p50, p95, count) = await MeasureAsync(run);
            md.AppendLine(inv, $"| {name} | {kind} | {count} | {p50:N1} | {p95:N1} | {(kind == "full-text" ? "< 500 ms" : "< 300 ms")} |");
        }

        var viewer = Viewer(factory, tenant);
        var ids = await SampleCallIdsAsync(factory, tenant);
        var i = 0;
        var (d50, d95, _) = !measure ? default : await MeasureAsync(async () => (await viewer.OpenAsync(ids[i++ % ids.Count], writeAudit: false, default)) is null ? 0 : 1);
        md.AppendLine(inv, $"| detail page data (call, trace, feedback, neighbours, replays) | detail | 1 | {d50:N1} | {d95:N1} | — |");
        if (explain)
        {
            await ExplainAsync(factory, md, explained, ids[0]);
        }

        return md.ToString();
    }

    private static async Task<int> Count(Task<TracePage> page) => (await page).Rows.Count;

    /// <summary>The SQL of each listed search (first page; full text: one window) and of the detail page's queries, with SQLite's plan.</summary>
    private static async Task ExplainAsync(KeystoneDbFactory factory, StringBuilder md, List<(string Name, TenantScope Scope, TraceFilter Filter)> searches, Guid detailId)
    {
        var queries = new List<(string Name, TenantScope Scope, Func<KeystoneDbContext, Task<System.Data.Common.DbCommand>> Command)>();
        foreach (var (name, scope, filter) in searches)
        {
            queries.Add((name, scope, db => Task.FromResult(TraceQueries.PageQuery(db, filter, null, 51).CreateDbCommand())));
        }

        queries.Add(("tenant, next page (keyset)", TenantScope.For(TenantId(3)), db => Task.FromResult(TraceQueries.PageQuery(db, TraceFilter.Empty,
            TraceCursor.Parse(Start.AddDays(89).Ticks.ToString(CultureInfo.InvariantCulture) + "_" + Guid.Empty.ToString("N"), TraceSort.Time), 51).CreateDbCommand())));
        foreach (var (name, before) in new[] { ("detail: neighbours before", true), ("detail: neighbours after", false) })
        {
            queries.Add((name, TenantScope.For(TenantId(3)), async db =>
            {
                var call = await db.Calls.AsNoTracking().SingleAsync(c => c.Id == detailId);
                var q = TraceViewer.NeighbourQueries(db, call)!.Value;
                return (before ? q.Before : q.After).CreateDbCommand();
            }));
        }

        queries.Add(("detail: replays", TenantScope.For(TenantId(3)), db => Task.FromResult(TraceQueries.ToRows(db,
            db.Calls.AsNoTracking().Where(c => c.ReplayOfCallId == detailId).OrderByDescending(c => c.CreatedUtc).Take(20)).CreateDbCommand())));

        var inv = CultureInfo.InvariantCulture;
        foreach (var (name, scope, make) in queries)
        {
            await using var db = factory.Create(scope);
            await db.Database.OpenConnectionAsync();
            await using var command = await make(db);
            md.AppendLine().AppendLine(inv, $"EXPLAIN QUERY PLAN — {name}:").AppendLine("```sql").AppendLine(command.CommandText).AppendLine("```");
            command.CommandText = "EXPLAIN QUERY PLAN " + command.CommandText;
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                md.AppendLine(inv, $"    {reader.GetValue(3)}");
            }
        }
    }

    private static async Task<(double P50, double P95, int Rows)> MeasureAsync(Func<Task<int>> run)
    {
        var rows = 0;
        for (var i = 0; i < Warmup; i++)
        {
            rows = await run();
        }

        var samples = new List<double>(Samples);
        for (var i = 0; i < Samples; i++)
        {
            var sw = Stopwatch.StartNew();
            rows = await run();
            samples.Add(sw.Elapsed.TotalMilliseconds);
        }

        samples.Sort();
        return (samples[Samples / 2], samples[(int)Math.Ceiling(Samples * 0.95) - 1], rows);
    }

    private static readonly DateTime Start = new(2026, 8, 1, 0, 0, 0, DateTimeKind.Utc);

    private static Guid TenantId(int i) => Guid.Parse($"b0000000-0000-4000-8000-{i:D12}");

    private static async Task<bool> EnsureDataAsync(KeystoneDbFactory factory, KeystoneConnectionStrings connections, DatabaseOptions options, int rows)
    {
        if (File.Exists(options.SqlitePath))
        {
            await using var check = factory.ForSystem();
            if (await check.Calls.CountAsync() == rows)
            {
                // Reused: apply index and schema changes made since it was generated, then refresh the planner's
                // statistics with the product's own step (a new index is never analyzed, so it picks that table up).
                if (await CachedSchema.CatchUpAsync(check, Console.Error))
                {
                    await check.Database.OpenConnectionAsync();
                    ReportStatistics("cached database", SqlitePlannerStatistics.Refresh(
                        (Microsoft.Data.Sqlite.SqliteConnection)check.Database.GetDbConnection(), TimeProvider.System));
                }

                return false;
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(Path.GetDirectoryName(options.SqlitePath)!, recursive: true);
        }

        await new DatabaseMigrator(factory, connections, Microsoft.Extensions.Options.Options.Create(options),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<DatabaseMigrator>.Instance).MigrateAsync(default);
        await using (var db = factory.ForSystem())
        {
            var plan = Guid.NewGuid();
            db.Plans.Add(new Plan { Id = plan, Name = "Bench" });
            for (var i = 0; i < Tenants; i++)
            {
                db.Tenants.Add(new Tenant { Id = TenantId(i), Name = $"Tenant {i}", Slug = $"t{i}", PlanId = plan, CreatedUtc = Start });
            }

            await db.SaveChangesAsync();
        }

        // Raw prepared inserts in one transaction (EF's change tracking would take most of an hour for a million
        // rows on 2 cores); the values use EF Core's SQLite formats (upper-case Guid text, ISO date text), and the
        // FTS5 triggers index every trace exactly as in production.
        var random = new Random(42);
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(connections.SqliteConnectionString(options));
        await connection.OpenAsync();
        await using var tx = (Microsoft.Data.Sqlite.SqliteTransaction)await connection.BeginTransactionAsync();
        var insertCall = connection.CreateCommand();
        insertCall.Transaction = tx;
        insertCall.CommandText = """
            INSERT INTO llm_calls (id, trace_id, tenant_id, end_user, feature, alias, provider, model, streamed, input_tokens, output_tokens,
              cached_input_tokens, cache_write_tokens, cache_write1h_tokens, reasoning_tokens, cost_micros, cost_status, billed_to, cache_status,
              saved_cost_micros, attempts, fell_back, status, latency_ms, created_utc)
            VALUES ($id, $trace, $tenant, $user, $feature, $alias, 'sim', 'sim-smart', 0, $in, $out, 0, 0, 0, 0, $cost, 'Exact', 'Platform', $cache,
              0, 1, $fell, $status, $latency, $created)
            """;
        var insertTrace = connection.CreateCommand();
        insertTrace.Transaction = tx;
        insertTrace.CommandText = """
            INSERT INTO llm_traces (call_id, tenant_id, request_json, response_json, search_text, redaction_count, created_utc)
            VALUES ($id, $tenant, $request, $response, $search, 0, $created)
            """;
        var p = new Dictionary<string, Microsoft.Data.Sqlite.SqliteParameter>();
        foreach (var name in new[] { "$id", "$trace", "$tenant", "$user", "$feature", "$alias", "$in", "$out", "$cost", "$cache", "$fell", "$status", "$latency", "$created" })
        {
            p[name] = insertCall.Parameters.Add(new Microsoft.Data.Sqlite.SqliteParameter { ParameterName = name });
        }

        var t = new Dictionary<string, Microsoft.Data.Sqlite.SqliteParameter>();
        foreach (var name in new[] { "$id", "$tenant", "$request", "$response", "$search", "$created" })
        {
            t[name] = insertTrace.Parameters.Add(new Microsoft.Data.Sqlite.SqliteParameter { ParameterName = name });
        }

        for (var n = 0; n < rows; n++)
        {
            var tenant = random.Next(Tenants);
            var created = Start.AddSeconds(90.0 * 86_400 * n / rows);
            var statusRoll = random.Next(100);
            var id = Guid.CreateVersion7(new DateTimeOffset(created)).ToString().ToUpperInvariant();
            var tenantId = TenantId(tenant).ToString().ToUpperInvariant();
            var createdText = created.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture);
            var alias = Aliases[random.Next(Aliases.Length)];
            p["$id"].Value = id;
            p["$trace"].Value = Guid.NewGuid().ToString().ToUpperInvariant();
            p["$tenant"].Value = tenantId;
            p["$user"].Value = $"user-{tenant}-{random.Next(250)}";
            p["$feature"].Value = Features[random.Next(Features.Length)];
            p["$alias"].Value = alias;
            p["$in"].Value = random.Next(20, 2_000);
            p["$out"].Value = random.Next(5, 800);
            p["$cost"].Value = random.Next(10, 8_000);
            p["$cache"].Value = statusRoll < 10 ? "Exact" : "None";
            p["$fell"].Value = statusRoll is >= 10 and < 13 ? 1 : 0;
            p["$status"].Value = statusRoll >= 95 ? "Error" : statusRoll >= 93 ? "Cancelled" : "Ok";
            p["$latency"].Value = random.Next(50, 4_000);
            p["$created"].Value = createdText;
            await insertCall.ExecuteNonQueryAsync();

            var prompt = Sentence(random, 18, n % 10_000 == 7 ? "flamingo" : null);
            var answer = Sentence(random, 30, null);
            t["$id"].Value = id;
            t["$tenant"].Value = tenantId;
            t["$request"].Value = $$"""{"model":"{{alias}}","messages":[{"role":"user","content":"{{prompt}}"}]}""";
            t["$response"].Value = $$"""{"text":"{{answer}}","finishReason":"stop"}""";
            t["$search"].Value = "user: " + prompt + "\nassistant: " + answer;
            t["$created"].Value = createdText;
            await insertTrace.ExecuteNonQueryAsync();
        }

        await tx.CommitAsync();
        // The statistics the product gives the planner (its hourly job and the run after start, decision 0073), not a
        // full ANALYZE: the latencies measured below are the ones a deployment sees.
        ReportStatistics("generated database", SqlitePlannerStatistics.Refresh(connection, TimeProvider.System));
        return true;
    }

    private static void ReportStatistics(string database, PlannerStatisticsRefresh refresh)
        => Console.Error.WriteLine($"{database}: planner statistics for {string.Join(", ", refresh.AnalyzedTables)} in {refresh.Duration.TotalMilliseconds:F0} ms");

    private static string Sentence(Random random, int words, string? extra)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < words; i++)
        {
            // Zipf-like: low indexes are common words, high ones rare.
            var index = (int)(Math.Pow(random.NextDouble(), 3) * Vocabulary.Length);
            sb.Append(Vocabulary[index]).Append(' ');
        }

        if (extra is not null)
        {
            sb.Append(extra);
        }

        return sb.ToString().Trim();
    }

    private static string[] BuildVocabulary()
    {
        const string letters = "abcdefghijklmnopqrstuvwxyz";
        var random = new Random(7);
        return Enumerable.Range(0, 5_000)
            .Select(_ => new string(Enumerable.Range(0, random.Next(4, 10)).Select(_ => letters[random.Next(letters.Length)]).ToArray()))
            .Distinct()
            .ToArray();
    }

    private static async Task<IReadOnlyList<Guid>> SampleCallIdsAsync(KeystoneDbFactory factory, Guid tenant)
    {
        await using var db = factory.ForTenant(tenant);
        return await db.Calls.AsNoTracking().OrderByDescending(c => c.CreatedUtc).Take(200).Select(c => c.Id).ToListAsync();
    }

    private static TraceViewer Viewer(KeystoneDbFactory factory, Guid tenant)
    {
        var context = new TenantContext(new ServiceCollection().BuildServiceProvider());
        context.UseScope(TenantScope.For(tenant));
        return new TraceViewer(Scoped(factory, TenantScope.For(tenant)), context, new AuditLog(factory, context, TimeProvider.System));
    }

    private static ScopedKeystoneDbContextFactory Scoped(KeystoneDbFactory factory, TenantScope scope)
        => new ScopedKeystoneDbContextFactory(factory, new FixedTenantContext(scope));
}
