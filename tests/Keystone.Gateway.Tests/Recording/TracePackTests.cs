using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>
/// SQLite's recorder packs a batch's trace payloads per tenant (issue 26): the trace rows point at (pack, slot) and every
/// reader goes through <see cref="TracePayloads"/>, which reads packed and per-row traces alike.
/// </summary>
public sealed class TracePackTests : IAsyncLifetime
{
    private SqliteTestDatabase _db = null!;
    private Guid _acme;
    private Guid _globex;
    private int _next;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _acme = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "acme");
        _globex = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "globex");
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private const string SystemPrompt = "You are the support assistant of Northwind Parcel. Answer briefly and politely.";

    private CallRecord Record(Guid tenant, string user, string answer)
    {
        var call = new LlmCall
        {
            Id = Guid.CreateVersion7(), TraceId = Guid.CreateVersion7(), TenantId = tenant, Feature = "support", Alias = "fast",
            Status = CallStatus.Ok, CreatedUtc = new DateTime(2026, 12, 6, 10, 0, 0, DateTimeKind.Utc).AddSeconds(_next++),
        };
        var request = new ChatRequest { Model = "fast", Messages = [new ChatMessage("system", SystemPrompt), new ChatMessage("user", user)] };
        return new CallRecord(call, request, new Keystone.Gateway.Caching.CachedAnswer(answer, [], "stop", new Usage(1, 1)),
            [new Attempt("up", "gpt-4o-mini", "ok", 200, null, 7)]);
    }

    private void Write(IReadOnlyList<CallRecord> records, IReadOnlyList<LlmTrace> traces)
    {
        using var db = _db.CreateFactory().ForSystem();
        new SqliteCallBatchWriter().Write(db, [.. records.Select(r => r.Call)], traces);
    }

    [Fact]
    public async Task Write_TwoTenantsOneBatch_OnePackPerTenantAndEveryTraceReadsBackAsBuilt()
    {
        var records = new List<CallRecord>
        {
            Record(_acme, "Where is parcel 1?", "On its way."),
            Record(_globex, "My email is jane@example.com, where is my parcel?", "Delivered to your neighbour."),
            Record(_acme, "Where is parcel 2?", "Delivered Monday."),
        };
        var built = records.Select(r => CallRecorder.ToTrace(r, searchText: false)).ToList();
        Write(records, built);

        await using var system = _db.CreateFactory().ForSystem();
        var packs = await system.Set<LlmTracePack>().AsNoTracking().OrderBy(p => p.Id).ToListAsync();
        Assert.Equal(new[] { (_acme, 2), (_globex, 1) }, packs.Select(p => (p.TenantId, p.Count)));
        Assert.Null(packs[0].RawPayloads);
        Assert.NotNull(packs[1].RawPayloads);
        Assert.Equal(1, packs[1].RawCount);
        // The trace rows carry no payload of their own: only the pointer.
        var rows = await system.Traces.AsNoTracking().OrderBy(t => t.CreatedUtc).ToListAsync();
        Assert.All(rows, t => Assert.Null(t.RequestJson));
        Assert.All(rows, t => Assert.Null(t.AttemptsJson));
        Assert.Equal(new int?[] { 0, 0, 1 }, rows.Select(t => t.PackSlot));

        var read = await TracePayloads.ReadAsync(system, [.. records.Select(r => r.Call.Id)], raw: true, CancellationToken.None);
        foreach (var expected in built)
        {
            var got = read[expected.CallId];
            Assert.Equal(expected.RequestJson, got.RequestJson);
            Assert.Equal(expected.ResponseJson, got.ResponseJson);
            Assert.Equal(expected.AttemptsJson, got.AttemptsJson);
            Assert.Equal(expected.RawRequestJson, got.RawRequestJson);
            Assert.Equal(expected.RawResponseJson, got.RawResponseJson);
            Assert.Equal(expected.RedactionCount, got.RedactionCount);
            Assert.Equal(expected.RawRequestJson is not null, got.HasRaw);
        }

        var globexTrace = read[records[1].Call.Id];
        Assert.DoesNotContain("jane@example.com", globexTrace.RequestJson, StringComparison.Ordinal);
        Assert.Contains("jane@example.com", globexTrace.RawRequestJson, StringComparison.Ordinal);
        // Without asking for the raw payloads, they are not read, but their existence is known.
        var redactedOnly = await TracePayloads.ReadOneAsync(system, records[1].Call.Id, raw: false, CancellationToken.None);
        Assert.Null(redactedOnly!.RawRequestJson);
        Assert.True(redactedOnly.HasRaw);
    }

    [Fact]
    public async Task Read_AnotherTenantsScope_SeesNeitherItsTracesNorItsPacks()
    {
        var records = new List<CallRecord> { Record(_acme, "Acme question", "Acme answer"), Record(_globex, "Globex question", "Globex answer") };
        Write(records, [.. records.Select(r => CallRecorder.ToTrace(r, searchText: false))]);

        await using var globex = _db.CreateFactory().ForTenant(_globex);
        var read = await TracePayloads.ReadAsync(globex, [.. records.Select(r => r.Call.Id)], raw: true, CancellationToken.None);
        Assert.Equal(new[] { records[1].Call.Id }, read.Keys);
        Assert.Contains("Globex question", read[records[1].Call.Id].RequestJson, StringComparison.Ordinal);
        Assert.Equal(new[] { _globex }, await globex.Set<LlmTracePack>().Select(p => p.TenantId).ToListAsync());
    }

    [Fact]
    public async Task Read_TraceRowWrittenBeforePacking_IsReadBesidePackedOnes()
    {
        var old = Record(_acme, "An old question", "An old answer");
        var packed = Record(_acme, "A new question", "A new answer");
        var oldTrace = CallRecorder.ToTrace(old, searchText: false);
        using (var db = _db.CreateFactory().ForSystem())
        {
            // The per-row form the recorder wrote before packing (payloads compressed in the trace row).
            SqliteRowWriter.Insert(db, [old.Call], [oldTrace]);
        }

        Write([packed], [CallRecorder.ToTrace(packed, searchText: false)]);

        await using var read = _db.CreateFactory().ForTenant(_acme);
        var traces = await TracePayloads.ReadAsync(read, [old.Call.Id, packed.Call.Id], raw: false, CancellationToken.None);
        Assert.Equal(oldTrace.RequestJson, traces[old.Call.Id].RequestJson);
        Assert.Equal(oldTrace.AttemptsJson, traces[old.Call.Id].AttemptsJson);
        Assert.Contains("A new question", traces[packed.Call.Id].RequestJson, StringComparison.Ordinal);
        Assert.Null((await read.Traces.AsNoTracking().SingleAsync(t => t.CallId == old.Call.Id)).PackId);

        // Both forms are indexed by the background indexer.
        using (var db = _db.CreateFactory().ForSystem())
        {
            Assert.Equal(2, SqliteTraceIndex.IndexPending(db, 100).Traces);
        }

        Assert.Equal(new[] { old.Call.Id }, await read.TraceIdsMatching(["old", "question"]).ToListAsync());
        Assert.Equal(new[] { packed.Call.Id }, await read.TraceIdsMatching(["new", "question"]).ToListAsync());
    }

    [Fact]
    public async Task Write_BatchTheDatabaseRefuses_LeavesNoPackNoTraceNoCall()
    {
        var first = Record(_acme, "First", "Answer");
        Write([first], [CallRecorder.ToTrace(first, searchText: false)]);

        // A batch of three whose last call repeats a stored id: the primary key refuses it, and the batch is one transaction.
        var batch = new List<CallRecord> { Record(_acme, "Second", "Answer"), Record(_globex, "Third", "Answer"), first };
        var ex = Assert.Throws<SqliteException>(() => Write(batch, [.. batch.Select(r => CallRecorder.ToTrace(r, searchText: false))]));
        Assert.Equal(19, ex.SqliteErrorCode); // SQLITE_CONSTRAINT

        await using var system = _db.CreateFactory().ForSystem();
        Assert.Equal(1, await system.Set<LlmTracePack>().CountAsync());
        Assert.Equal(1, await system.Traces.CountAsync());
        Assert.Equal(1, await system.Calls.CountAsync());
    }

    [Fact]
    public async Task Write_MoreTracesThanAPackHolds_SplitsIntoPacksAndEverySlotReadsItsOwnCall()
    {
        var records = Enumerable.Range(0, TracePack.MaxSlots + 3).Select(i => Record(_acme, "Question number " + i, "Answer number " + i)).ToList();
        Write(records, [.. records.Select(r => CallRecorder.ToTrace(r, searchText: false))]);

        await using var system = _db.CreateFactory().ForSystem();
        Assert.Equal(new[] { TracePack.MaxSlots, 3 }, await system.Set<LlmTracePack>().OrderBy(p => p.Id).Select(p => p.Count).ToListAsync());
        var read = await TracePayloads.ReadAsync(system, [.. records.Select(r => r.Call.Id)], raw: false, CancellationToken.None);
        for (var i = 0; i < records.Count; i++)
        {
            Assert.Contains("\"Question number " + i + "\"", read[records[i].Call.Id].RequestJson, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Read_PointerToAnotherCallsSlot_ShowsNoPayloadRatherThanAnotherTrace()
    {
        var records = new List<CallRecord> { Record(_acme, "Mine", "Answer"), Record(_acme, "Someone else", "Answer") };
        Write(records, [.. records.Select(r => CallRecorder.ToTrace(r, searchText: false))]);
        await using (var db = _db.CreateFactory().ForSystem())
        {
            await db.Traces.Where(t => t.CallId == records[0].Call.Id).ExecuteUpdateAsync(s => s.SetProperty(t => t.PackSlot, 1));
        }

        await using var read = _db.CreateFactory().ForTenant(_acme);
        var trace = await TracePayloads.ReadOneAsync(read, records[0].Call.Id, raw: true, CancellationToken.None);
        Assert.NotNull(trace);
        Assert.Null(trace.RequestJson);
    }
}
