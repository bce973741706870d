using Keystone.Data.Calls;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>The recorder's SQLite fast path stores exactly what EF Core's SaveChanges stores, column by column.</summary>
public sealed class SqliteRowWriterTests : IAsyncLifetime
{
    private SqliteTestDatabase _db = null!;
    private Guid _tenant;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _tenant = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "acme");
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private LlmCall Call(Guid id) => RecordedRows.Call(id, _tenant);

    private LlmTrace Trace(Guid callId) => RecordedRows.Trace(callId, _tenant);

    [Fact]
    public async Task Insert_EveryColumn_StoresTheSameValuesAsSaveChanges()
    {
        var viaEf = Guid.Parse("00000000-0000-7000-8000-000000000001");
        var fast = Guid.Parse("00000000-0000-7000-8000-000000000002");
        await using (var db = _db.CreateFactory().ForSystem())
        {
            db.Calls.Add(Call(viaEf));
            db.Traces.Add(Trace(viaEf));
            await db.SaveChangesAsync();
        }

        await using (var db = _db.CreateFactory().ForSystem())
        {
            SqliteRowWriter.Insert(db, [Call(fast)], [Trace(fast)]);
        }

        await AssertSameRowsAsync("llm_calls", "id", viaEf, fast, skip: ["id", "ingested_utc"]);
        // The search text is indexed, not stored, by the fast path (its own test below).
        await AssertSameRowsAsync("llm_traces", "call_id", viaEf, fast, skip: ["call_id", "search_text"]);
        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var back = await read.Calls.AsNoTracking().SingleAsync(c => c.Id == fast);
        Assert.Equal((CallStatus.Incomplete, BilledTo.TenantKey, Call(fast).CreatedUtc), (back.Status, back.BilledTo, back.CreatedUtc));
        Assert.True(back.IngestedUtc > DateTime.UtcNow.AddMinutes(-5), "the database default sets the ingest time");
    }

    [Fact]
    public async Task Insert_Trace_IsSearchableOnceIndexedLikeSaveChangesButItsTextIsNotStored()
    {
        var viaEf = Guid.Parse("00000000-0000-7000-8000-000000000011");
        var fast = Guid.Parse("00000000-0000-7000-8000-000000000012");
        var fastAlone = Guid.Parse("00000000-0000-7000-8000-000000000013");
        await using (var db = _db.CreateFactory().ForSystem())
        {
            db.Calls.Add(Call(viaEf));
            db.Traces.Add(Trace(viaEf));
            await db.SaveChangesAsync();
            SqliteRowWriter.Insert(db, [Call(fast)], [Trace(fast)]);
            // A trace written after its call, in another batch: its call's feature is read from the database.
            SqliteRowWriter.Insert(db, [Call(fastAlone)], []);
            SqliteRowWriter.Insert(db, [], [Trace(fastAlone)]);
        }

        await using var read = _db.CreateFactory().ForTenant(_tenant);
        // The fast path leaves the index to the background indexer: until it runs, only the SaveChanges row (its insert
        // trigger indexes search_text) is found.
        Assert.Equal(new[] { viaEf }, await read.TraceIdsMatching(["hello"]).ToListAsync());
        await using (var db = _db.CreateFactory().ForSystem())
        {
            Assert.Equal(2, SqliteTraceIndex.IndexPending(db, 100).Traces);
        }

        var created = Trace(fast).CreatedUtc;
        // The same words, tenant, feature and time window find all three: the indexer writes the triggers' key and scope.
        var found = await read.TraceIdsMatching(["hello"], created, created.AddMilliseconds(1), _tenant, "support.bot").ToListAsync();
        Assert.Equal(new[] { viaEf, fast, fastAlone }, found.Order());
        Assert.Empty(await read.TraceIdsMatching(["hello"], tenantId: Guid.NewGuid()).ToListAsync());
        Assert.Empty(await read.TraceIdsMatching(["hello"], feature: "other").ToListAsync());
        var stored = await read.Traces.AsNoTracking().Where(t => t.CallId == fast).Select(t => new { t.SearchText, t.RequestJson }).SingleAsync();
        Assert.Null(stored.SearchText);
        Assert.Equal(Trace(fast).RequestJson, stored.RequestJson);

        // Deleting the trace (retention) removes its index row through the delete trigger.
        await using (var db = _db.CreateFactory().ForSystem())
        {
            await db.Traces.Where(t => t.CallId == fast).ExecuteDeleteAsync();
        }

        Assert.Equal(new[] { viaEf, fastAlone }, (await read.TraceIdsMatching(["hello"]).ToListAsync()).Order());
    }

    [Fact]
    public async Task Read_TraceStoredBeforeCompression_ReadsAsPlainTextBesideCompressedOnes()
    {
        var old = Guid.Parse("00000000-0000-7000-8000-000000000021");
        var fresh = Guid.Parse("00000000-0000-7000-8000-000000000022");
        await using (var db = _db.CreateFactory().ForSystem())
        {
            SqliteRowWriter.Insert(db, [Call(old), Call(fresh)], [Trace(fresh)]);
            // What a database written before compression holds: the JSON as TEXT.
            await db.Database.ExecuteSqlAsync($$"""
                INSERT INTO llm_traces (call_id, tenant_id, request_json, response_json, attempts_json, redaction_count, created_utc)
                VALUES ({{old}}, {{_tenant}}, '{"messages":["old"]}', '{"text":"é 東京"}', '[]', 0, {{Trace(old).CreatedUtc}})
                """);
            Assert.Equal("text", await db.Database.SqlQuery<string>($"SELECT typeof(request_json) AS \"Value\" FROM llm_traces WHERE call_id = {old}").SingleAsync());
            Assert.Equal("blob", await db.Database.SqlQuery<string>($"SELECT typeof(request_json) AS \"Value\" FROM llm_traces WHERE call_id = {fresh}").SingleAsync());
        }

        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var traces = await read.Traces.AsNoTracking().OrderBy(t => t.CallId).Select(t => new { t.RequestJson, t.ResponseJson }).ToListAsync();
        Assert.Equal(("{\"messages\":[\"old\"]}", "{\"text\":\"é 東京\"}"), (traces[0].RequestJson, traces[0].ResponseJson));
        Assert.Equal((Trace(fresh).RequestJson, Trace(fresh).ResponseJson), (traces[1].RequestJson, traces[1].ResponseJson));
    }

    [Fact]
    public void Compress_RealisticPayload_IsSmallerAndRoundTrips()
    {
        var text = "{\"messages\":[{\"role\":\"system\",\"content\":\"" + string.Concat(Enumerable.Repeat("Answer the customer's question about their parcel politely. ", 40)) + "\"}]}";
        var stored = TraceCompression.Compress(text);
        Assert.Equal(TraceCompression.BrotliMarker, stored[0]);
        Assert.True(stored.Length < text.Length / 4, $"{stored.Length} bytes stored for {text.Length} characters");
        Assert.Equal(text, TraceCompression.Decompress(stored));
        Assert.Equal("", TraceCompression.Decompress(TraceCompression.Compress("")));
    }

    [Fact]
    public async Task Insert_EmptyText_IsStoredAsEmptyNotNull()
    {
        var id = Guid.Parse("00000000-0000-7000-8000-000000000003");
        var call = Call(id);
        call.ErrorCode = "";
        await using (var db = _db.CreateFactory().ForSystem())
        {
            SqliteRowWriter.Insert(db, [call], []);
        }

        await using var read = _db.CreateFactory().ForTenant(_tenant);
        Assert.Equal("", (await read.Calls.AsNoTracking().SingleAsync(c => c.Id == id)).ErrorCode);
    }

    private async Task AssertSameRowsAsync(string table, string key, Guid a, Guid b, string[] skip)
    {
        await using var db = _db.CreateFactory().ForSystem();
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT * FROM {table} WHERE {key} IN (@a, @b) ORDER BY {key}";
        var pa = command.CreateParameter();
        pa.ParameterName = "@a";
        pa.Value = a.ToString().ToUpperInvariant();
        var pb = command.CreateParameter();
        pb.ParameterName = "@b";
        pb.Value = b.ToString().ToUpperInvariant();
        command.Parameters.Add(pa);
        command.Parameters.Add(pb);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), $"{table}: the SaveChanges row");
        var first = Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, reader.GetValue);
        Assert.True(await reader.ReadAsync(), $"{table}: the fast-path row (a different stored key format would not match)");
        var second = Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, reader.GetValue);
        foreach (var (column, value) in first.Where(c => !skip.Contains(c.Key)))
        {
            var same = value is byte[] bytes && second[column] is byte[] other ? bytes.AsSpan().SequenceEqual(other) : Equals(value, second[column]);
            Assert.True(same, $"{table}.{column}: SaveChanges stored '{value}', the fast path '{second[column]}'");
        }
    }
}
