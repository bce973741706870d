using System.Diagnostics;
using System.Globalization;
using System.Text;
using Keystone.Data.Calls;
using Keystone.Gateway;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Recording;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Benchmarks.Recording;

/// <summary>
/// Where the recorder's time goes per call, stage by stage, on one thread: building the trace (JSON and
/// redaction) and the SQLite inserts of the call rows and of the traces (their indexes and the FTS5 trigger).
/// Diagnostic only; the throughput the gateway reaches with the recorder on is in the load report.
/// </summary>
internal static class RecorderReport
{
    public static async Task<string> RunAsync(int calls, int batch = 0)
    {
        batch = batch > 0 ? batch : new Keystone.Gateway.Pipeline.GatewayOptions().RecorderBatchSize;
        await using var host = await BenchmarkHost.StartAsync(recording: false, withCap: false);
        var records = Enumerable.Range(0, calls).Select(i => Record(host.TenantId, i)).ToList();

        // Warm up every stage until the JIT's final tier is in (tiered compilation), on rows that are not measured.
        for (var round = 0; round < 20; round++)
        {
            var warm = Enumerable.Range(0, batch).Select(i => Record(host.TenantId, calls * (round + 1) + i)).ToList();
            Insert(host, warm, warm.Select(CallRecorder.ToTrace).ToList());
            await Task.Delay(50);
        }

        var process = Process.GetCurrentProcess();
        var sw = Stopwatch.StartNew();
        var cpu = process.TotalProcessorTime;
        var traces = records.Select(CallRecorder.ToTrace).ToList();
        var toTrace = (sw.Elapsed, Cpu(process, ref cpu));

        var callRows = Measure(host, records, [], batch, process);
        var traceRows = Measure(host, [], traces, batch, process);

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{calls:N0} calls like the load report's, batches of {batch}, one thread, SQLite (WAL) in a temporary file.");
        md.AppendLine();
        md.AppendLine("| Stage | Wall µs per call | CPU µs per call (process) |");
        md.AppendLine("|---|---|---|");
        Row(md, "Build the trace (serialize request and answer, redact, search text)", toTrace, calls);
        Row(md, "Insert the call rows (table + 11 indexes; one commit per batch)", callRows, calls);
        Row(md, "Insert the traces (table + index + FTS5 trigger; one commit per batch)", traceRows, calls);
        Row(md, "Total", (toTrace.Elapsed + callRows.Wall + traceRows.Wall, toTrace.Item2 + callRows.Cpu + traceRows.Cpu), calls);

        // What the parts of the schema cost (diagnostic variants on fresh rows, then measured the same way).
        md.AppendLine();
        md.AppendLine("Variants (fresh rows, same database):");
        md.AppendLine();
        md.AppendLine("| Variant | Wall µs per call | CPU µs per call (process) |");
        md.AppendLine("|---|---|---|");
        await using (var db = host.DbFactory.ForSystem())
        {
            await db.Database.ExecuteSqlRawAsync("""
                DROP INDEX IF EXISTS ix_llm_calls_cost_micros_id; DROP INDEX IF EXISTS ix_llm_calls_latency_ms_id;
                DROP INDEX IF EXISTS ix_llm_calls_tenant_id_cost_micros_id; DROP INDEX IF EXISTS ix_llm_calls_tenant_id_latency_ms_id;
                """);
        }

        var fresh2 = Enumerable.Range(0, calls).Select(i => Record(host.TenantId, 20 * calls + i)).ToList();
        Row(md, "Call rows without the four cost / latency sort indexes", Measure(host, fresh2, [], batch, process), calls);
        await using (var db = host.DbFactory.ForSystem())
        {
            await db.Database.ExecuteSqlRawAsync("DROP TRIGGER IF EXISTS llm_traces_fts_v4_insert");
        }

        Row(md, "Traces without the FTS5 trigger", Measure(host, [], fresh2.Select(CallRecorder.ToTrace).ToList(), batch, process), calls);
        return md.ToString();
    }

    private static (TimeSpan Wall, TimeSpan Cpu) Measure(BenchmarkHost host, List<CallRecord> calls, List<LlmTrace> traces, int batch, Process process)
    {
        var cpu = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var n = Math.Max(calls.Count, traces.Count);
        for (var at = 0; at < n; at += batch)
        {
            Insert(host, calls.Count > 0 ? calls.GetRange(at, Math.Min(batch, n - at)) : [], traces.Count > 0 ? traces.GetRange(at, Math.Min(batch, n - at)) : []);
        }

        var wall = sw.Elapsed;
        return (wall, Cpu(process, ref cpu));
    }

    private static void Row(StringBuilder md, string stage, (TimeSpan Wall, TimeSpan Cpu) t, int calls) =>
        md.AppendLine(CultureInfo.InvariantCulture, $"| {stage} | {t.Wall.TotalMicroseconds / calls:0.0} | {t.Cpu.TotalMicroseconds / calls:0.0} |");

    private static TimeSpan Cpu(Process process, ref TimeSpan last)
    {
        process.Refresh();
        var now = process.TotalProcessorTime;
        var spent = now - last;
        last = now;
        return spent;
    }

    private static void Insert(BenchmarkHost host, List<CallRecord> calls, List<LlmTrace> traces)
    {
        using var db = host.DbFactory.ForSystem();
        SqliteRowWriter.Insert(db, [.. calls.Select(c => (object)c.Call)], [.. traces.Cast<object>()]);
    }

    private static CallRecord Record(Guid tenantId, int i)
    {
        var now = DateTime.UtcNow;
        var call = new LlmCall
        {
            Id = Guid.CreateVersion7(),
            TraceId = Guid.CreateVersion7(),
            TenantId = tenantId,
            EndUser = "user-" + (i % 50).ToString(CultureInfo.InvariantCulture),
            Feature = "bench",
            RequestId = Guid.NewGuid().ToString("N"),
            Alias = "chat",
            Provider = "up",
            Model = "gpt-4o-mini",
            InputTokens = 12,
            OutputTokens = 5,
            CostMicros = 5 + i % 7,
            CostStatus = CostStatus.Exact,
            BilledTo = BilledTo.Platform,
            CacheStatus = CacheStatus.None,
            Attempts = 1,
            Status = CallStatus.Ok,
            LatencyMs = 1 + i % 40,
            CreatedUtc = now,
        };
        var answer = new CachedAnswer("Hello from the mock.", [], "stop", new Usage(12, 5));
        return new CallRecord(call, BenchmarkHost.Request, answer, [new Attempt("up", "gpt-4o-mini", "ok", 200, null, 1)]);
    }
}
