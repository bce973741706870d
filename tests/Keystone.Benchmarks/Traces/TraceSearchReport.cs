using Stopwatch = System.Diagnostics.Stopwatch;
using System.Globalization;
using System.Text;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Tenancy;
using Keystone.Testing;
using Keystone.Web.Features.Audit;
using Keystone.Web.Features.Tenants;
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

    public static async Task<string> RunAsync(int rows)
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
        foreach (var (name, kind, run) in cases)
        {
            var (p50, p95, count) = await MeasureAsync(run);
            md.AppendLine(inv, $"| {name} | {kind} | {count} | {p50:N1} | {p95:N1} | {(kind == "full-text" ? "< 500 ms" : "< 300 ms")} |");
        }

        var viewer = Viewer(factory, tenant);
        var ids = await SampleCallIdsAsync(factory, tenant);
        var i = 0;
        var (d50, d95, _) = await MeasureAsync(async () => (await viewer.OpenAsync(ids[i++ % ids.Count], writeAudit: false, default)) is null ? 0 : 1);
        md.AppendLine(inv, $"| detail page data (call, trace, neighbours, replays) | detail | 1 | {d50:N1} | {d95:N1} | — |");
        return md.ToString();
    }

    private static async Task<int> Count(Task<TracePage> page) => (await page).Rows.Count;

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
            for (var t = 0; t < Tenants; t++)
            {
                db.Tenants.Add(new Tenant { Id = TenantId(t), Name = $"Tenant {t}", Slug = $"t{t}", PlanId = plan, CreatedUtc = Start });
            }

            await db.SaveChangesAsync();
        }

        var random = new Random(42);
        const int batch = 5_000;
        for (var done = 0; done < rows; done += batch)
        {
            await using var db = factory.ForSystem();
            db.ChangeTracker.AutoDetectChangesEnabled = false;
            for (var k = 0; k < Math.Min(batch, rows - done); k++)
            {
                var n = done + k;
                var tenant = random.Next(Tenants);
                var created = Start.AddSeconds(90.0 * 86_400 * n / rows);
                var statusRoll = random.Next(100);
                var call = new LlmCall
                {
                    Id = Guid.CreateVersion7(new DateTimeOffset(created)),
                    TraceId = Guid.NewGuid(),
                    TenantId = TenantId(tenant),
                    EndUser = $"user-{tenant}-{random.Next(250)}",
                    Feature = Features[random.Next(Features.Length)],
                    Alias = Aliases[random.Next(Aliases.Length)],
                    Provider = "sim",
                    Model = "sim-smart",
                    InputTokens = random.Next(20, 2_000),
                    OutputTokens = random.Next(5, 800),
                    CostMicros = random.Next(10, 8_000),
                    CostStatus = CostStatus.Exact,
                    BilledTo = BilledTo.Platform,
                    CacheStatus = statusRoll < 10 ? CacheStatus.Exact : CacheStatus.None,
                    Attempts = 1,
                    FellBack = statusRoll is >= 10 and < 13,
                    Status = statusRoll is >= 95 ? CallStatus.Error : statusRoll is >= 93 ? CallStatus.Cancelled : CallStatus.Ok,
                    LatencyMs = random.Next(50, 4_000),
                    CreatedUtc = created,
                };
                var prompt = Sentence(random, 18, n % 10_000 == 7 ? "flamingo" : null);
                var answer = Sentence(random, 30, null);
                db.Calls.Add(call);
                db.Traces.Add(new LlmTrace
                {
                    CallId = call.Id,
                    TenantId = call.TenantId,
                    RequestJson = $$"""{"model":"{{call.Alias}}","messages":[{"role":"user","content":"{{prompt}}"}]}""",
                    ResponseJson = $$"""{"text":"{{answer}}","finishReason":"stop"}""",
                    SearchText = "user: " + prompt + "\nassistant: " + answer,
                    CreatedUtc = created,
                });
            }

            await db.SaveChangesAsync();
        }

        return true;
    }

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

    private static IDbContextFactory<KeystoneDbContext> Scoped(KeystoneDbFactory factory, TenantScope scope)
        => new ScopedKeystoneDbContextFactory(factory, new FixedScope(scope));

    private sealed class FixedScope(TenantScope scope) : ITenantContext
    {
        public TenantScope Scope => scope;
    }
}
