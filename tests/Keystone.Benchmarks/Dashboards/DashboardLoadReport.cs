using System.Diagnostics;
using System.Globalization;
using System.Text;
using Keystone.Data;
using Keystone.Data.Tenancy;
using Keystone.Testing;
using Keystone.Web.Features.Dashboard;
using Keystone.Web.Features.Usage;
using Keystone.Web.Features.Margin;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Keystone.Benchmarks.Dashboards;

/// <summary>
/// The dashboards at scale on SQLite: N calls (default 1,000,000) generated in SQL over 60 days and 100 tenants
/// and rolled up, then 1,000,000 new calls on top: the rollup job's throughput on those (target: 1M new calls in
/// under 60 s), its peak memory across the two runs (flat: the work happens in SQL), and the server time of the
/// founder overview and the margin table read from the rollups (target: under 300 ms).
/// </summary>
internal static class DashboardLoadReport
{
    private const int Tenants = 100;

    /// <summary>New calls the second rollup run measures (the issue's throughput target).</summary>
    private const int NewCalls = 1_000_000;

    public static async Task<string> RunAsync(int calls)
    {
        await using var database = await SqliteTestDatabase.CreateAsync();
        var factory = database.CreateFactory();
        var now = DateTime.UtcNow;
        await SeedTenantsAsync(factory, now);
        // The job's step timings go to stderr, next to the progress lines.
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Debug)
            .AddFilter((category, _) => category == typeof(UsageRollupJob).FullName));
        var job = new UsageRollupJob(factory, new SqliteRollupSql(), TimeProvider.System, loggers.CreateLogger<UsageRollupJob>());

        var generate1 = await GenerateAsync(factory, calls, now);
        Console.Error.WriteLine($"generated {calls:N0} calls in {generate1.TotalSeconds:0.0} s");
        var (rollup1, peak1, ws1) = await MeasureAsync(() => job.RunAsync(CancellationToken.None));
        Console.Error.WriteLine($"rollup of {calls:N0} calls: {rollup1.TotalSeconds:0.0} s");
        var generate2 = await GenerateAsync(factory, NewCalls, now);
        Console.Error.WriteLine($"generated {NewCalls:N0} more in {generate2.TotalSeconds:0.0} s");
        var (rollup2, peak2, ws2) = await MeasureAsync(() => job.RunAsync(CancellationToken.None));
        Console.Error.WriteLine($"rollup of {NewCalls:N0} new calls: {rollup2.TotalSeconds:0.0} s");
        var (rerun, _, _) = await MeasureAsync(() => job.RunAsync(CancellationToken.None));

        var scoped = new FixedScopeFactory(factory);
        var range = ReportRange.LastDays(now, 30);
        var overview = new DashboardQueries(scoped);
        var margin = new MarginQueries(scoped);
        await overview.OverviewAsync(range, CancellationToken.None);
        await margin.TenantsAsync(range, CancellationToken.None);
        var overviewMs = await MedianMsAsync(() => overview.OverviewAsync(range, CancellationToken.None));
        var marginMs = await MedianMsAsync(() => margin.TenantsAsync(range, CancellationToken.None));

        await using var db = factory.ForSystem();
        var rows = await db.UsageRollups.CountAsync();
        var userRows = await db.UserUsageRollups.CountAsync();
        var total = calls + NewCalls;
        var rate = NewCalls / rollup2.TotalSeconds;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"SQLite, {calls:N0} calls then {NewCalls:N0} new ones ({total:N0} in all) over 60 days, {Tenants} tenants, 4 features, 4 models, 3 billed-to; {rows:N0} rollup rows, {userRows:N0} per-user day rows.");
        md.AppendLine();
        md.AppendLine("| Measure | Result | Target | Met |");
        md.AppendLine("|---|---|---|---|");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Generate {calls:N0} + {NewCalls:N0} calls (SQL, not the job) | {generate1.TotalSeconds:0.0} s + {generate2.TotalSeconds:0.0} s | — | — |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Rollup, first run over {calls:N0} calls | {rollup1.TotalSeconds:0.0} s ({calls / rollup1.TotalSeconds:N0} calls/s) | — | — |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Rollup, {NewCalls:N0} new calls on top (spread over every hour of 60 days) | {rollup2.TotalSeconds:0.0} s ({rate:N0} calls/s) | 1M in < 60 s | {(rollup2.TotalSeconds * 1_000_000 / NewCalls < 60 ? "yes" : "no")} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Rollup with nothing new | {rerun.TotalMilliseconds:0} ms | — | — |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Rollup peak managed heap, run 1 / run 2 | {peak1 / 1048576.0:0.0} MB / {peak2 / 1048576.0:0.0} MB | flat | {(peak2 < peak1 * 1.5 + 8 * 1048576 ? "yes" : "no")} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Rollup peak working-set growth (incl. SQLite's cache), run 1 / run 2 | {ws1 / 1048576.0:0} MB / {ws2 / 1048576.0:0} MB | — | — |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Founder overview, 30 days (median of 5) | {overviewMs:0} ms | < 300 ms | {(overviewMs < 300 ? "yes" : "no")} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Margin table, 30 days, {Tenants} tenants (median of 5) | {marginMs:0} ms | < 300 ms | {(marginMs < 300 ? "yes" : "no")} |");
        return md.ToString();
    }

    private static async Task SeedTenantsAsync(KeystoneDbFactory factory, DateTime now)
    {
        await using var db = factory.ForSystem();
        var plan = new Plan { Id = Guid.NewGuid(), Name = "Bench", MonthlyPriceMicros = 99_000_000, IncludedUsageMicros = 30_000_000, OverageMarkupBasisPoints = 2_000 };
        db.Plans.Add(plan);
        for (var i = 0; i < Tenants; i++)
        {
            db.Tenants.Add(new Tenant { Id = Guid.NewGuid(), Name = $"Tenant {i:000}", Slug = $"t{i:000}", PlanId = plan.Id, CreatedUtc = now });
        }

        await db.SaveChangesAsync();
    }

    // Calls generated inside SQLite in one statement (a recursive sequence), with llm_calls' secondary indexes
    // dropped during the load and rebuilt after (one sort each instead of millions of random b-tree inserts), and
    // synchronous=OFF on this connection only: the benchmark's setup, not something the product does.
    private static async Task<TimeSpan> GenerateAsync(KeystoneDbFactory factory, int count, DateTime now)
    {
        var sw = Stopwatch.StartNew();
        await using var db = factory.ForSystem();
        db.Database.SetCommandTimeout(TimeSpan.FromMinutes(30));
        await db.Database.OpenConnectionAsync();
        await db.Database.ExecuteSqlRawAsync("PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576; PRAGMA temp_store = MEMORY;");
        var indexes = await db.Database.SqlQueryRaw<string>(
            "SELECT sql AS \"Value\" FROM sqlite_master WHERE type = 'index' AND tbl_name = 'llm_calls' AND sql IS NOT NULL").ToListAsync();
        var names = await db.Database.SqlQueryRaw<string>(
            "SELECT name AS \"Value\" FROM sqlite_master WHERE type = 'index' AND tbl_name = 'llm_calls' AND sql IS NOT NULL").ToListAsync();
        foreach (var name in names)
        {
            // Names read from sqlite_master just above.
            var drop = $"DROP INDEX \"{name}\"";
            await db.Database.ExecuteSqlRawAsync(drop);
        }

        var start = now.Date.AddDays(-59).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        // Only numbers and a date formatted by this code go into the text: nothing from outside.
        var sql = $"""
            WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < {count - 1}),
                 t(id, k) AS (SELECT id, row_number() OVER (ORDER BY id) - 1 FROM tenants WHERE slug LIKE 't%')
            INSERT INTO llm_calls (id, trace_id, tenant_id, feature, alias, provider, model, streamed,
                input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cache_write1h_tokens, reasoning_tokens,
                cost_micros, cost_status, billed_to, cache_status, saved_cost_micros, attempts, fell_back, status,
                latency_ms, ttft_ms, created_utc, end_user)
            SELECT lower(hex(randomblob(16))), lower(hex(randomblob(16))), t.id,
                CASE s.n % 4 WHEN 0 THEN 'support-bot' WHEN 1 THEN 'summarize' WHEN 2 THEN 'classify' ELSE 'search' END,
                CASE s.n % 3 WHEN 0 THEN 'fast' ELSE 'smart' END, 'sim',
                CASE s.n % 4 WHEN 0 THEN 'sim-fast' WHEN 1 THEN 'sim-smart' WHEN 2 THEN 'sim-reasoning' ELSE 'sim-embed' END, 0,
                500 + s.n % 1500, 50 + s.n % 400, s.n % 200, 0, 0, 0,
                100 + abs(random()) % 5000, 'Exact',
                CASE WHEN s.n % 10 = 0 THEN 'TenantKey' WHEN s.n % 97 = 0 THEN 'Support' ELSE 'Platform' END,
                CASE WHEN s.n % 7 = 0 THEN 'Exact' ELSE 'None' END, CASE WHEN s.n % 7 = 0 THEN 400 ELSE 0 END,
                1, s.n % 50 = 0, CASE WHEN s.n % 40 = 0 THEN 'Error' ELSE 'Ok' END,
                abs(random()) % 6000, CASE WHEN s.n % 2 = 0 THEN abs(random()) % 900 ELSE NULL END,
                datetime('{start}', '+' || (abs(random()) % (60 * 86400)) || ' seconds'),
                'user-' || (abs(random()) % 5000)
            FROM seq s JOIN t ON t.k = s.n % {Tenants};
            """;
        await db.Database.ExecuteSqlRawAsync(sql);
        foreach (var create in indexes)
        {
            await db.Database.ExecuteSqlRawAsync(create);
        }

        await db.Database.ExecuteSqlRawAsync("PRAGMA synchronous = FULL; PRAGMA cache_size = -2000; PRAGMA temp_store = DEFAULT;");
        return sw.Elapsed;
    }

    private static async Task<(TimeSpan Elapsed, long PeakHeap, long PeakWorkingSet)> MeasureAsync(Func<Task> action)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var wsBefore = process.WorkingSet64;
        long peak = 0;
        long wsPeak = 0;
        using var cts = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!cts.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(false) - before);
                process.Refresh();
                wsPeak = Math.Max(wsPeak, process.WorkingSet64 - wsBefore);
                await Task.Delay(20);
            }
        });
        var sw = Stopwatch.StartNew();
        await action();
        sw.Stop();
        await cts.CancelAsync();
        await sampler;
        return (sw.Elapsed, peak, wsPeak);
    }

    private static async Task<double> MedianMsAsync(Func<Task> action)
    {
        var samples = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            await action();
            samples.Add(sw.Elapsed.TotalMilliseconds);
        }

        return samples.Order().ElementAt(2);
    }

    private sealed class FixedScopeFactory(KeystoneDbFactory factory) : IDbContextFactory<KeystoneDbContext>
    {
        public KeystoneDbContext CreateDbContext() => factory.Create(TenantScope.All);
    }
}
