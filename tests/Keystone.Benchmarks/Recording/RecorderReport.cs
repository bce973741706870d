using System.Diagnostics;
using System.Globalization;
using System.Text;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Tenancy;
using Keystone.Gateway;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Benchmarks.Recording;

/// <summary>
/// Where the recorder's time goes per call, stage by stage, on one thread: building the trace (JSON and
/// redaction) and the SQLite inserts of the call rows and of the traces (their indexes and the FTS5 trigger).
/// Diagnostic only; the throughput the gateway reaches with the recorder on is in the load report.
/// </summary>
internal static class RecorderReport
{
    public static async Task<string> RunAsync(int calls, int batch = 0, bool realistic = false, bool postgres = false)
    {
        batch = batch > 0 ? batch : new Keystone.Gateway.Pipeline.GatewayOptions().RecorderBatchSize;
        var md = new StringBuilder();
        // Both SQLite layouts in the same run (issue 26): traces compressed row by row (the form before packing), then packed.
        md.Append(await SqliteAsync(calls, batch, realistic, packed: false));
        md.AppendLine();
        md.Append(await SqliteAsync(calls, batch, realistic, packed: true));
        if (postgres)
        {
            md.AppendLine();
            md.Append(await PostgresAsync(calls, batch, realistic, previousLayout: true));
            md.AppendLine();
            md.Append(await PostgresAsync(calls, batch, realistic, previousLayout: false));
        }

        return md.ToString();
    }

    /// <summary>Which SQLite layout <see cref="Insert"/> writes: payloads packed per batch (the recorder's) or compressed row by row.</summary>
    private static bool _packed;

    /// <summary>
    /// The recorder's hand-off of search texts to the indexer (decision 0071) in the packed layout, null in the other. Without
    /// a cap here: the run stores every call before indexing, where the gateway's indexer follows a quarter-second behind.
    /// </summary>
    private static SearchTextHandoff? _handoff;

    private static async Task<string> SqliteAsync(int calls, int batch, bool realistic, bool packed)
    {
        _packed = packed;
        _handoff = packed ? new SearchTextHandoff(int.MaxValue) : null;
        // A database of its own, without a gateway: the gateway's background indexer would index these rows on its own
        // thread while they are measured. Here the indexer's passes run on this thread, measured apart.
        await using var database = await SqliteTestDatabase.CreateAsync();
        var factory = database.CreateFactory();
        var tenant = await CreateTenantAsync(factory);
        var records = Enumerable.Range(0, calls).Select(i => Record(tenant, i, realistic)).ToList();

        // Warm up every stage until the JIT's final tier is in (tiered compilation), on rows that are not measured.
        for (var round = 0; round < 20; round++)
        {
            var warm = Enumerable.Range(0, batch).Select(i => Record(tenant, calls * (round + 1) + i, realistic)).ToList();
            Insert(factory, warm, warm.Select(ToTrace).ToList());
            IndexAll(factory);
            await Task.Delay(50);
        }

        var process = Process.GetCurrentProcess();
        var sw = Stopwatch.StartNew();
        var cpu = process.TotalProcessorTime;
        var traces = records.Select(ToTrace).ToList();
        var toTrace = (sw.Elapsed, Cpu(process, ref cpu));

        var inserts = Measure(factory, records, traces, batch, process);
        sw.Restart();
        Cpu(process, ref cpu);
        var indexed = IndexAll(factory);
        var index = (sw.Elapsed, Cpu(process, ref cpu));

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"SQLite, {(packed ? "**payloads packed per batch and tenant** (the recorder's layout)" : "payloads compressed row by row (the layout before packing)")}: {calls:N0} calls, {(realistic ? "realistic text (a 2 KB system prompt, a user question, a 1,000-character answer)" : "one-line messages like the load report's")}, batches of {batch}, one thread, SQLite (WAL) in a temporary file.");
        md.AppendLine();
        md.AppendLine("| Stage | Wall µs per call | CPU µs per call (process) |");
        md.AppendLine("|---|---|---|");
        Row(md, packed ? "Build the trace (serialize request and answer, redact; the search text for the indexer)" : "Build the trace (serialize request and answer, redact)", toTrace, calls);
        Row(md, "Store the batch (call rows and their indexes, compressed traces; one commit per batch)", inserts, calls);
        Row(md, "**Recorder total** (build + store)", (toTrace.Elapsed + inserts.Wall, toTrace.Item2 + inserts.Cpu), calls);
        Row(md, packed
            ? $"Background indexer, after the recorder (passes of {SqliteTraceIndexer.PassSize:N0}: the text the recorder handed over, FTS5; {indexed:N0} traces)"
            : $"Background indexer, after the recorder (passes of {SqliteTraceIndexer.PassSize:N0}: decompress, read the messages, redact, FTS5; {indexed:N0} traces)", index, calls);

        // Where the store's time goes (diagnostic variants on fresh rows, measured the same way).
        md.AppendLine();
        md.AppendLine("Variants (fresh rows, same database):");
        md.AppendLine();
        md.AppendLine("| Variant | Wall µs per call | CPU µs per call (process) |");
        md.AppendLine("|---|---|---|");
        var payloads = traces.SelectMany(t => new[] { t.RequestJson, t.ResponseJson, t.AttemptsJson }).OfType<string>().ToList();
        sw.Restart();
        Cpu(process, ref cpu);
        if (packed)
        {
            // As the packed writer does: one pack per 64 traces of a tenant (one tenant here).
            foreach (var chunk in traces.Chunk(TracePack.MaxSlots))
            {
                _ = TracePack.Encode(chunk);
            }
        }
        else
        {
            foreach (var payload in payloads)
            {
                _ = TraceCompression.Compress(payload);
            }
        }

        Row(md, packed ? "Pack and compress the payloads, 64 traces per pack (part of storing the batch)" : "Compress the trace's payloads row by row (part of storing the batch)",
            (sw.Elapsed, Cpu(process, ref cpu)), calls);
        var fresh = Enumerable.Range(0, calls).Select(i => Record(tenant, 30 * calls + i, realistic)).ToList();
        Row(md, "Store the call rows alone", Measure(factory, fresh, [], batch, process), calls);
        IndexAll(factory);
        if (packed)
        {
            // What the hand-off saves: the same indexer where nothing was handed over (after a restart, another process's traces).
            var handoff = _handoff;
            _handoff = null;
            var unhanded = Enumerable.Range(0, calls).Select(i => Record(tenant, 40 * calls + i, realistic)).ToList();
            Measure(factory, unhanded, [.. unhanded.Select(ToTrace)], batch, process);
            sw.Restart();
            Cpu(process, ref cpu);
            IndexAll(factory);
            Row(md, "Background indexer on fresh rows with nothing handed over (decompress, read the messages, redact, FTS5)", (sw.Elapsed, Cpu(process, ref cpu)), calls);
            _handoff = handoff;
        }

        // The automerge comparison once per run (in the first layout's database): it does not depend on the payloads' layout.
        foreach (var automerge in packed ? Array.Empty<int>() : new[] { 16, 4 })
        {
            // FTS5 merges a level's segments once it holds `automerge` of them (default 4): fewer merges, more segments.
            var more = Enumerable.Range(0, calls).Select(i => Record(tenant, (50 + automerge) * calls + i, realistic)).ToList();
            Measure(factory, more, [.. more.Select(r => CallRecorder.ToTrace(r, searchText: false))], batch, process);
            await using (var db = factory.ForSystem())
            {
                await db.Database.ExecuteSqlAsync($"INSERT INTO llm_traces_fts(llm_traces_fts, rank) VALUES('automerge', {automerge})");
            }

            sw.Restart();
            Cpu(process, ref cpu);
            IndexAll(factory);
            Row(md, $"Background indexer on fresh rows, FTS5 automerge = {automerge}", (sw.Elapsed, Cpu(process, ref cpu)), calls);
        }

        if (packed)
        {
            // The floors on this box (issue 26 asks for the physical limit beside a target out of reach).
            var texts = traces.Select(t => TraceSearchText.FromStored(t.RequestJson, t.ResponseJson) ?? "").ToList();
            Row(md, $"Floor: FTS5 indexing the same text alone (text already derived), in passes of {SqliteTraceIndexer.PassSize:N0}", FtsAlone(factory, texts, process), calls);
            var (read, rows) = PendingRowsAlone(factory, process);
            Row(md, $"The indexer's read of its pending rows alone (key, scope through the call row, pack pointer; all {rows:N0} traces, per trace)", read, rows);
        }

        md.AppendLine();
        md.Append(await StorageAsync(factory));
        if (packed)
        {
            return md.ToString();
        }

        md.AppendLine();
        md.Append(PackedEstimate(traces, batch));
        // Floor: the call rows with no secondary index at all (primary key only), through the same prepared statements.
        await using (var db = factory.ForSystem())
        {
            foreach (var callIndex in await db.Database.SqlQuery<string>($"SELECT name AS \"Value\" FROM sqlite_master WHERE type = 'index' AND tbl_name = 'llm_calls' AND sql IS NOT NULL").ToListAsync())
            {
#pragma warning disable EF1003 // index names from sqlite_master
                await db.Database.ExecuteSqlRawAsync("DROP INDEX \"" + callIndex + "\"");
#pragma warning restore EF1003
            }
        }

        var bare = Enumerable.Range(0, calls).Select(i => Record(tenant, 90 * calls + i, realistic)).ToList();
        md.AppendLine();
        md.AppendLine("| Floor | Wall µs per call | CPU µs per call (process) |");
        md.AppendLine("|---|---|---|");
        Row(md, "Floor: the call rows alone with no secondary index (primary key only)", Measure(factory, bare, [], batch, process), calls);
        return md.ToString();
    }

    /// <summary>
    /// PostgreSQL: the recorder's writer (SaveChanges, the search text for the generated search column) into a throwaway
    /// database, process CPU per call (this process only: the server's own CPU is not in it), then bytes per call of
    /// each table (heap, TOAST) and index from PostgreSQL's own size functions after a VACUUM (so the visibility map
    /// and free space map exist as they would on a live table).
    /// </summary>
    private static async Task<string> PostgresAsync(int calls, int batch, bool realistic, bool previousLayout)
    {
        await using var pg = await PostgresTestDatabase.CreateAsync();
        var factory = pg.CreateFactory();
        var tenant = await CreateTenantAsync(factory);
        var writer = new PostgresCallBatchWriter();
        void Store(List<CallRecord> records)
        {
            for (var at = 0; at < records.Count; at += batch)
            {
                var part = records.GetRange(at, Math.Min(batch, records.Count - at));
                using var db = factory.ForSystem();
                if (previousLayout)
                {
                    // The writer before decision 69: each trace's payloads in its own row (TOAST compresses them one by one).
                    db.Calls.AddRange(part.Select(r => r.Call));
                    db.Traces.AddRange(part.Select(r => CallRecorder.ToTrace(r, searchText: true)));
                    db.SaveChanges();
                }
                else
                {
                    writer.Write(db, [.. part.Select(r => r.Call)], [.. part.Select(r => CallRecorder.ToTrace(r, searchText: true))]);
                }
            }
        }

        Store([.. Enumerable.Range(0, batch * 2).Select(i => Record(tenant, calls * 50 + i, realistic))]);
        var records = Enumerable.Range(0, calls).Select(i => Record(tenant, i, realistic)).ToList();
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        Store(records);
        var stored = (sw.Elapsed, Cpu(process, ref cpu));

        await using var connection = new Npgsql.NpgsqlConnection(pg.OwnerConnectionString);
        await connection.OpenAsync();
        async Task<List<(string Name, long Bytes)>> Rows(string sql)
        {
            await using var c = new Npgsql.NpgsqlCommand(sql, connection);
            await using var r = await c.ExecuteReaderAsync();
            var list = new List<(string, long)>();
            while (await r.ReadAsync())
            {
                list.Add((r.GetString(0), r.GetInt64(1)));
            }

            return list;
        }

        await using (var vacuum = new Npgsql.NpgsqlCommand("VACUUM ANALYZE llm_calls, llm_traces, llm_trace_packs", connection))
        {
            await vacuum.ExecuteNonQueryAsync();
        }

        var count = (await Rows("SELECT 'n', count(*) FROM llm_calls"))[0].Bytes;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"PostgreSQL, {(previousLayout ? "**payloads per row** (the writer before decision 69: EF Core SaveChanges, each trace's payloads in its row, lz4 by TOAST)" : "**payloads packed** per batch and tenant (decision 69: Brotli per pack of up to 64 traces, slim trace rows, one INSERT per table from column arrays)")}: {count:N0} calls (warm-up included), batches of {batch}, the writer named above.");
        md.AppendLine();
        md.AppendLine("| Stage | Wall µs per call | CPU µs per call (this process) |");
        md.AppendLine("|---|---|---|");
        Row(md, "Build the traces and store the batches", stored, calls);
        md.AppendLine();
        md.AppendLine("| Table or index | Bytes per call |");
        md.AppendLine("|---|---|");
        long total = 0;
        foreach (var table in new[] { "llm_calls", "llm_traces", "llm_trace_packs" })
        {
            var sizes = await Rows($"""
                SELECT 'heap', pg_relation_size('{table}') UNION ALL
                SELECT 'toast', coalesce(pg_total_relation_size(reltoastrelid), 0) FROM pg_class WHERE oid = '{table}'::regclass UNION ALL
                SELECT 'fsm+vm', pg_relation_size('{table}', 'fsm') + pg_relation_size('{table}', 'vm')
                """);
            foreach (var (part, bytes) in sizes)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {table} ({part}) | {(double)bytes / count:N0} |");
                total += bytes;
            }

            foreach (var (index, bytes) in await Rows($"SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index WHERE indrelid = '{table}'::regclass ORDER BY 1"))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"|   {index} | {(double)bytes / count:N0} |");
                total += bytes;
            }
        }

        var columns = await Rows("""
            SELECT 'request_json', coalesce(sum(pg_column_size(request_json)), 0) FROM llm_traces UNION ALL
            SELECT 'response_json', coalesce(sum(pg_column_size(response_json)), 0) FROM llm_traces UNION ALL
            SELECT 'attempts_json', coalesce(sum(pg_column_size(attempts_json)), 0) FROM llm_traces UNION ALL
            SELECT 'search_text', coalesce(sum(pg_column_size(search_text)), 0) FROM llm_traces UNION ALL
            SELECT 'search_vector', coalesce(sum(pg_column_size(search_vector)), 0) FROM llm_traces UNION ALL
            SELECT 'pack payloads', coalesce(sum(pg_column_size(payloads)) + sum(coalesce(pg_column_size(raw_payloads), 0)), 0) FROM llm_trace_packs
            """);
        md.AppendLine(CultureInfo.InvariantCulture, $"| **Total** | **{(double)total / count:N0}** |");
        md.AppendLine();
        md.AppendLine("Stored size of the trace's columns (pg_column_size: after compression), bytes per call: "
            + string.Join(", ", columns.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Name} {(double)c.Bytes / count:N0}"))) + ".");
        return md.ToString();
    }

    /// <summary>Runs the background indexer's passes on this thread until nothing waits; returns the traces indexed.</summary>
    private static int IndexAll(KeystoneDbFactory factory)
    {
        var total = 0;
        while (true)
        {
            using var db = factory.ForSystem();
            var (through, indexed) = SqliteTraceIndex.IndexPending(db, SqliteTraceIndexer.PassSize, _handoff);
            _handoff?.Forget(through);
            if (indexed == 0)
            {
                return total;
            }

            total += indexed;
        }
    }

    /// <summary>The indexer's pass query (<see cref="SqliteModel.PendingRangeSql"/>) over every trace stored, read to the end, nothing indexed.</summary>
    private static ((TimeSpan Wall, TimeSpan Cpu) Time, int Rows) PendingRowsAlone(KeystoneDbFactory factory, Process process)
    {
        using var db = factory.ForSystem();
        db.Database.OpenConnection();
        var connection = (Microsoft.Data.Sqlite.SqliteConnection)db.Database.GetDbConnection();
        using var select = connection.CreateCommand();
        select.CommandText = SqliteModel.PendingRangeSql;
        select.Parameters.AddWithValue("$from", 0L);
        select.Parameters.AddWithValue("$to", long.MaxValue);
        var cpu = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var rows = 0;
        using (var reader = select.ExecuteReader())
        {
            while (reader.Read())
            {
                // As the pass reads them.
                _ = (reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(5) ? 0 : reader.GetInt64(5), reader.GetInt64(7));
                rows++;
            }
        }

        return ((sw.Elapsed, Cpu(process, ref cpu)), Math.Max(rows, 1));
    }

    /// <summary>FTS5 alone: the same texts inserted into a fresh table of the index's definition, in transactions of a pass.</summary>
    private static (TimeSpan Wall, TimeSpan Cpu) FtsAlone(KeystoneDbFactory factory, List<string> texts, Process process)
    {
        using var db = factory.ForSystem();
        db.Database.OpenConnection();
        var connection = (Microsoft.Data.Sqlite.SqliteConnection)db.Database.GetDbConnection();
        using (var create = connection.CreateCommand())
        {
            create.CommandText = "CREATE VIRTUAL TABLE bench_fts USING fts5(search_text, scope, call_id UNINDEXED, tokenize = 'porter unicode61', content = '', contentless_delete = 1, contentless_unindexed = 1, detail = column)";
            create.ExecuteNonQuery();
        }

        var cpu = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        for (var at = 0; at < texts.Count; at += SqliteTraceIndexer.PassSize)
        {
            using var tx = connection.BeginTransaction();
            using var insert = connection.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = "INSERT INTO bench_fts(rowid, search_text, scope, call_id) VALUES ($k, $t, 'tbench fbench', $c)";
            var k = insert.Parameters.Add("$k", Microsoft.Data.Sqlite.SqliteType.Integer);
            var t = insert.Parameters.Add("$t", Microsoft.Data.Sqlite.SqliteType.Text);
            var c = insert.Parameters.Add("$c", Microsoft.Data.Sqlite.SqliteType.Text);
            insert.Prepare();
            for (var i = at; i < Math.Min(texts.Count, at + SqliteTraceIndexer.PassSize); i++)
            {
                k.Value = i + 1L;
                t.Value = texts[i];
                c.Value = "00000000-0000-0000-0000-000000000000";
                insert.ExecuteNonQuery();
            }

            tx.Commit();
        }

        var wall = sw.Elapsed;
        var spent = Cpu(process, ref cpu);
        using (var drop = connection.CreateCommand())
        {
            drop.CommandText = "DROP TABLE bench_fts";
            drop.ExecuteNonQuery();
        }

        db.Database.CloseConnection();
        return (wall, spent);
    }

    /// <summary>
    /// What packing a batch's payloads into shared compressed frames would store (issue 26's "payloads packed per batch"):
    /// the same payloads compressed per row (as stored) and together in frames of 16, 64 and 256 traces (Brotli
    /// quality 1, the stored form's settings), so the repeated system prompt is compressed once per frame.
    /// </summary>
    private static string PackedEstimate(List<LlmTrace> traces, int batch)
    {
        var sample = traces.Take(batch).ToList();
        var perRow = sample.Sum(t => new[] { t.RequestJson, t.ResponseJson, t.AttemptsJson }.OfType<string>().Sum(p => (long)TraceCompression.Compress(p).Length));
        var md = new StringBuilder();
        md.AppendLine("Payload bytes per call, compressed per row (as stored) and packed per frame (estimate for issue 26's packing):");
        md.AppendLine();
        md.AppendLine("| Layout | Payload bytes per call |");
        md.AppendLine("|---|---|");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Per row (stored today) | {(double)perRow / sample.Count:N0} |");
        foreach (var frame in new[] { 16, 64, 256 })
        {
            long packed = 0;
            for (var at = 0; at < sample.Count; at += frame)
            {
                var text = string.Concat(sample.Skip(at).Take(frame).SelectMany(t => new[] { t.RequestJson, t.ResponseJson, t.AttemptsJson }).OfType<string>());
                packed += TraceCompression.Compress(text).Length;
            }

            md.AppendLine(CultureInfo.InvariantCulture, $"| Packed, frames of {frame} traces | {(double)packed / sample.Count:N0} |");
        }

        return md.ToString();
    }

    private static async Task<Guid> CreateTenantAsync(KeystoneDbFactory factory)
    {
        var planId = Guid.NewGuid();
        var tenantId = Guid.NewGuid();
        await using var db = factory.ForSystem();
        db.Plans.Add(new Plan { Id = planId, Name = "Bench", DefaultRequestsPerMinute = int.MaxValue });
        db.Tenants.Add(new Tenant { Id = tenantId, Name = "Bench", Slug = "bench", PlanId = planId, CreatedUtc = DateTime.UtcNow });
        await db.SaveChangesAsync();
        return tenantId;
    }

    /// <summary>
    /// Bytes per stored call, per table with its indexes, and the file as written. This SQLite build has no
    /// <c>dbstat</c>, so each table, each of its indexes and the full-text index's shadow tables are copied into an
    /// attached empty file one by one and its page count read after each: the copies are packed tight, while the
    /// real file's indexes on random keys (Guids) have free space in their pages, so the file total is the larger.
    /// </summary>
    private static async Task<string> StorageAsync(KeystoneDbFactory factory)
    {
        await using var db = factory.ForSystem();
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

            foreach (var table in new[] { "llm_calls", "llm_traces", "llm_trace_packs" })
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

    private static (TimeSpan Wall, TimeSpan Cpu) Measure(KeystoneDbFactory factory, List<CallRecord> calls, List<LlmTrace> traces, int batch, Process process)
    {
        var cpu = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var n = calls.Count;
        for (var at = 0; at < n; at += batch)
        {
            Insert(factory, calls.GetRange(at, Math.Min(batch, n - at)), traces.Count == 0 ? [] : traces.GetRange(at, Math.Min(batch, n - at)));
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

    private static void Insert(KeystoneDbFactory factory, List<CallRecord> calls, List<LlmTrace> traces)
    {
        using var db = factory.ForSystem();
        if (_packed)
        {
            new SqliteCallBatchWriter(_handoff).Write(db, [.. calls.Select(c => c.Call)], traces);
        }
        else
        {
            SqliteRowWriter.Insert(db, [.. calls.Select(c => c.Call)], traces);
        }
    }

    /// <summary>The recorder's trace: with the search text for the indexer where the layout hands it over.</summary>
    private static LlmTrace ToTrace(CallRecord r) => CallRecorder.ToTrace(r, searchText: false, indexerText: _handoff is not null);

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
