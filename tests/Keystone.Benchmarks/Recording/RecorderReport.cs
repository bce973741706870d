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
    public static async Task<string> RunAsync(int calls, int batch = 0, bool realistic = false)
    {
        batch = batch > 0 ? batch : new Keystone.Gateway.Pipeline.GatewayOptions().RecorderBatchSize;
        await using var host = await BenchmarkHost.StartAsync(recording: false, withCap: false);
        var records = Enumerable.Range(0, calls).Select(i => Record(host.TenantId, i, realistic)).ToList();

        // Warm up every stage until the JIT's final tier is in (tiered compilation), on rows that are not measured.
        for (var round = 0; round < 20; round++)
        {
            var warm = Enumerable.Range(0, batch).Select(i => Record(host.TenantId, calls * (round + 1) + i, realistic)).ToList();
            Insert(host, warm, warm.Select(CallRecorder.ToTrace).ToList());
            await Task.Delay(50);
        }

        var process = Process.GetCurrentProcess();
        var sw = Stopwatch.StartNew();
        var cpu = process.TotalProcessorTime;
        var traces = records.Select(CallRecorder.ToTrace).ToList();
        var toTrace = (sw.Elapsed, Cpu(process, ref cpu));

        var inserts = Measure(host, records, traces, batch, process);

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{calls:N0} calls, {(realistic ? "realistic text (a 2 KB system prompt, a user question, a 1,000-character answer)" : "one-line messages like the load report's")}, batches of {batch}, one thread, SQLite (WAL) in a temporary file.");
        md.AppendLine();
        md.AppendLine("| Stage | Wall µs per call | CPU µs per call (process) |");
        md.AppendLine("|---|---|---|");
        Row(md, "Build the trace (serialize request and answer, redact, search text, compress)", toTrace, calls);
        Row(md, "Store the batch (call rows and their indexes, traces, full-text index; one commit per batch)", inserts, calls);
        Row(md, "Total", (toTrace.Elapsed + inserts.Wall, toTrace.Item2 + inserts.Cpu), calls);

        // Where the store's time goes (diagnostic variants on fresh rows, measured the same way).
        md.AppendLine();
        md.AppendLine("Variants (fresh rows, same database):");
        md.AppendLine();
        md.AppendLine("| Variant | Wall µs per call | CPU µs per call (process) |");
        md.AppendLine("|---|---|---|");
        var payloads = traces.SelectMany(t => new[] { t.RequestJson, t.ResponseJson, t.AttemptsJson }).OfType<string>().ToList();
        sw.Restart();
        Cpu(process, ref cpu);
        foreach (var payload in payloads)
        {
            _ = TraceCompression.Compress(payload);
        }

        Row(md, "Compress the trace's payloads (part of storing the batch)", (sw.Elapsed, Cpu(process, ref cpu)), calls);
        var fresh = Enumerable.Range(0, calls).Select(i => Record(host.TenantId, 30 * calls + i, realistic)).ToList();
        Row(md, "Store the call rows alone", Measure(host, fresh, [], batch, process), calls);
        var fresh2 = Enumerable.Range(0, calls).Select(i => Record(host.TenantId, 40 * calls + i, realistic)).ToList();
        var unindexed = fresh2.Select(CallRecorder.ToTrace).ToList();
        unindexed.ForEach(t => t.SearchText = null);
        Row(md, "Store calls and traces without the full-text index", Measure(host, fresh2, unindexed, batch, process), calls);

        md.AppendLine();
        md.Append(await StorageAsync(host));
        return md.ToString();
    }

    /// <summary>
    /// Bytes per stored call, per table with its indexes, and the file as written. This SQLite build has no
    /// <c>dbstat</c>, so each table, each of its indexes and the full-text index's shadow tables are copied into an
    /// attached empty file one by one and its page count read after each: the copies are packed tight, while the
    /// real file's indexes on random keys (Guids) have free space in their pages, so the file total is the larger.
    /// </summary>
    private static async Task<string> StorageAsync(BenchmarkHost host)
    {
        await using var db = host.DbFactory.ForSystem();
        await db.Database.OpenConnectionAsync();
        var connection = db.Database.GetDbConnection();
        async Task<long> Scalar(string sql)
        {
            await using var c = connection.CreateCommand();
            c.CommandText = sql;
            return Convert.ToInt64(await c.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }

        async Task Exec(string sql)
        {
            await using var c = connection.CreateCommand();
            c.CommandText = sql;
            await c.ExecuteNonQueryAsync();
        }

        async Task<List<(string Name, string? Sql)>> Objects(string sql)
        {
            await using var c = connection.CreateCommand();
            c.CommandText = sql;
            await using var r = await c.ExecuteReaderAsync();
            var list = new List<(string, string?)>();
            while (await r.ReadAsync())
            {
                list.Add((r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)));
            }

            return list;
        }

        await Exec("PRAGMA wal_checkpoint(TRUNCATE)");
        var count = await Scalar("SELECT COUNT(*) FROM llm_calls");
        var pageSize = await Scalar("PRAGMA page_size");
        var fileBytes = (await Scalar("PRAGMA page_count") - await Scalar("PRAGMA freelist_count")) * pageSize;
        var copy = Path.Combine(Path.GetTempPath(), "ks-recorder-sizes-" + Guid.NewGuid().ToString("N") + ".db");
        await Exec($"ATTACH '{copy}' AS s");
        var rows = new List<(string Table, long Bytes)>();
        try
        {
            var last = await Scalar("PRAGMA s.page_count");
            async Task<long> Grown(string sql)
            {
                await Exec(sql);
                var now = await Scalar("PRAGMA s.page_count");
                var grown = (now - last) * pageSize;
                last = now;
                return grown;
            }

            foreach (var table in new[] { "llm_calls", "llm_traces" })
            {
                rows.Add((table, await Grown($"CREATE TABLE s.\"{table}\" AS SELECT * FROM main.\"{table}\"")));
                foreach (var (index, sql) in await Objects($"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' ORDER BY name"))
                {
                    var columns = await Objects($"SELECT name, NULL FROM pragma_index_info('{index}') ORDER BY seqno");
                    var create = sql is not null
                        ? sql.Replace("CREATE INDEX \"", "CREATE INDEX s.\"", StringComparison.Ordinal).Replace("CREATE UNIQUE INDEX \"", "CREATE UNIQUE INDEX s.\"", StringComparison.Ordinal)
                        : $"CREATE UNIQUE INDEX s.\"copy_{index}\" ON \"{table}\" ({string.Join(", ", columns.Select(c => "\"" + c.Name + "\""))})";
                    rows.Add(("  " + index, await Grown(create)));
                }
            }

            long fts = 0;
            foreach (var (shadow, _) in await Objects("SELECT name, NULL FROM sqlite_master WHERE type = 'table' AND name LIKE 'llm_traces_fts_%' ORDER BY name"))
            {
                fts += await Grown($"CREATE TABLE s.\"{shadow}\" AS SELECT * FROM main.\"{shadow}\"");
            }

            rows.Add(("llm_traces_fts (full-text index)", fts));
        }
        finally
        {
            await Exec("DETACH s");
            File.Delete(copy);
        }

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Storage after {count:N0} calls (warm-up included), bytes per call; indexes indented under their table (copies packed tight):");
        md.AppendLine();
        md.AppendLine("| Table or index | Bytes per call |");
        md.AppendLine("|---|---|");
        foreach (var (table, bytes) in rows)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {table} | {(double)bytes / count:N0} |");
        }

        md.AppendLine(CultureInfo.InvariantCulture, $"| **Sum of the copies** | **{(double)rows.Sum(r => r.Bytes) / count:N0}** |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| **Call tables in the file as written** (whole file less free pages; other tables are a few pages) | **{(double)fileBytes / count:N0}** |");
        return md.ToString();
    }

    private static (TimeSpan Wall, TimeSpan Cpu) Measure(BenchmarkHost host, List<CallRecord> calls, List<LlmTrace> traces, int batch, Process process)
    {
        var cpu = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var n = calls.Count;
        for (var at = 0; at < n; at += batch)
        {
            Insert(host, calls.GetRange(at, Math.Min(batch, n - at)), traces.Count == 0 ? [] : traces.GetRange(at, Math.Min(batch, n - at)));
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
        new SqliteCallBatchWriter().Write(db, [.. calls.Select(c => c.Call)], traces);
    }

    private static CallRecord Record(Guid tenantId, int i, bool realistic)
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
        if (!realistic)
        {
            var answer = new CachedAnswer("Hello from the mock.", [], "stop", new Usage(12, 5));
            return new CallRecord(call, BenchmarkHost.Request, answer, [new Attempt("up", "gpt-4o-mini", "ok", 200, null, 1)]);
        }

        var random = new Random(i);
        call.InputTokens = 560;
        call.OutputTokens = 240;
        var request = new ChatRequest
        {
            Model = "chat",
            Messages = [new ChatMessage("system", RealisticText.SystemPrompt), new ChatMessage("user", RealisticText.Words(random, 200))],
            MaxTokens = 400,
        };
        var realAnswer = new CachedAnswer(RealisticText.Words(random, 1_000), [], "stop", new Usage(560, 240));
        return new CallRecord(call, request, realAnswer, [new Attempt("up", "gpt-4o-mini", "ok", 200, null, 1)]);
    }
}

/// <summary>Text shaped like a real support assistant's: a fixed 2 KB system prompt, and varied English for questions and answers.</summary>
internal static class RealisticText
{
    public static readonly string SystemPrompt = string.Join(' ', Enumerable.Repeat(
        "You are the support assistant of Northwind Parcel, a delivery company. Answer the customer's question about their parcel, "
        + "their invoice or their account in plain words and at most three short paragraphs. Never promise a refund or a delivery date "
        + "that the order system has not confirmed; when you do not know, say so and offer to open a ticket. Quote the tracking number "
        + "exactly as the customer wrote it. Be polite, be brief, and do not repeat the question back. ", 6))[..2048];

    private static readonly string[] Vocabulary =
    [
        "the", "parcel", "was", "delivered", "to", "your", "address", "on", "Monday", "and", "signed", "for", "by", "a", "neighbour",
        "invoice", "shows", "two", "charges", "because", "the", "first", "payment", "failed", "refund", "will", "arrive", "within",
        "five", "working", "days", "tracking", "number", "depot", "driver", "weather", "delay", "customs", "form", "missing", "label",
        "account", "password", "reset", "link", "email", "we", "are", "sorry", "for", "the", "trouble", "please", "check", "again",
        "tomorrow", "morning", "courier", "returned", "sender", "damaged", "box", "photo", "claim", "insurance", "covers", "value",
        "order", "subscription", "renewal", "cancel", "plan", "upgrade", "premium", "support", "ticket", "opened", "team", "reply",
    ];

    /// <summary>About <paramref name="chars"/> characters of words drawn from a small vocabulary (compresses like prose).</summary>
    public static string Words(Random random, int chars)
    {
        var sb = new StringBuilder(chars + 16);
        while (sb.Length < chars)
        {
            sb.Append(Vocabulary[random.Next(Vocabulary.Length)]).Append(random.Next(12) == 0 ? ". " : " ");
        }

        return sb.ToString(0, chars);
    }
}
