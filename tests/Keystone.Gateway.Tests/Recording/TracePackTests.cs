using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>
/// The recorder packs a batch's trace payloads per tenant on both databases (issue 26, decisions 56 and 69): the trace rows
/// point at (pack, slot) and every reader goes through <see cref="TracePayloads"/>, which reads packed and per-row traces
/// alike.
/// </summary>
public abstract class TracePackTests : IAsyncLifetime
{
    private IAsyncDisposable _database = null!;
    private Guid _acme;
    private Guid _globex;
    private int _next;

    private protected KeystoneDbFactory Factory { get; private set; } = null!;

    private protected Guid Acme => _acme;

    /// <summary>The database mode's batch writer, as the recorder has it.</summary>
    private protected abstract ICallBatchWriter Writer { get; }

    /// <summary>Whether the recorder derives the search text itself on this database (PostgreSQL's insert trigger indexes it).</summary>
    private protected abstract bool SearchText { get; }

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        (_database, Factory) = await CreateDatabaseAsync();
        _acme = await GatewayHarness.CreateTenantAsync(Factory, "acme");
        _globex = await GatewayHarness.CreateTenantAsync(Factory, "globex");
    }

    public async Task DisposeAsync() => await _database.DisposeAsync();

    private const string SystemPrompt = "You are the support assistant of Northwind Parcel. Answer briefly and politely.";

    private protected CallRecord Record(Guid tenant, string user, string answer)
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

    private protected void Write(IReadOnlyList<CallRecord> records, IReadOnlyList<LlmTrace> traces)
    {
        using var db = Factory.ForSystem();
        Writer.Write(db, [.. records.Select(r => r.Call)], traces);
    }

    private protected LlmTrace Trace(CallRecord record) => CallRecorder.ToTrace(record, SearchText);

    [Fact]
    public async Task Write_TwoTenantsOneBatch_OnePackPerTenantAndEveryTraceReadsBackAsBuilt()
    {
        var records = new List<CallRecord>
        {
            Record(_acme, "Where is parcel 1?", "On its way."),
            Record(_globex, "My email is jane@example.com, where is my parcel?", "Delivered to your neighbour."),
            Record(_acme, "Where is parcel 2?", "Delivered Monday."),
        };
        var built = records.Select(r => Trace(r)).ToList();
        Write(records, built);

        await using var system = Factory.ForSystem();
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
        Write(records, [.. records.Select(r => Trace(r))]);

        await using var globex = Factory.ForTenant(_globex);
        var read = await TracePayloads.ReadAsync(globex, [.. records.Select(r => r.Call.Id)], raw: true, CancellationToken.None);
        Assert.Equal(new[] { records[1].Call.Id }, read.Keys);
        Assert.Contains("Globex question", read[records[1].Call.Id].RequestJson, StringComparison.Ordinal);
        Assert.Equal(new[] { _globex }, await globex.Set<LlmTracePack>().Select(p => p.TenantId).ToListAsync());
    }

    [Fact]
    public async Task Write_BatchTheDatabaseRefuses_LeavesNoPackNoTraceNoCall()
    {
        var first = Record(_acme, "First", "Answer");
        Write([first], [Trace(first)]);

        // A batch of three whose last call repeats a stored id: the primary key refuses it, and the batch is one transaction.
        var batch = new List<CallRecord> { Record(_acme, "Second", "Answer"), Record(_globex, "Third", "Answer"), first };
        AssertDuplicateKeyRefused(Assert.ThrowsAny<Exception>(() => Write(batch, [.. batch.Select(r => Trace(r))])));

        await using var system = Factory.ForSystem();
        Assert.Equal(1, await system.Set<LlmTracePack>().CountAsync());
        Assert.Equal(1, await system.Traces.CountAsync());
        Assert.Equal(1, await system.Calls.CountAsync());
    }

    [Fact]
    public async Task Write_MoreTracesThanAPackHolds_SplitsIntoPacksAndEverySlotReadsItsOwnCall()
    {
        var records = Enumerable.Range(0, TracePack.MaxSlots + 3).Select(i => Record(_acme, "Question number " + i, "Answer number " + i)).ToList();
        Write(records, [.. records.Select(r => Trace(r))]);

        await using var system = Factory.ForSystem();
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
        Write(records, [.. records.Select(r => Trace(r))]);
        await using (var db = Factory.ForSystem())
        {
            await db.Traces.Where(t => t.CallId == records[0].Call.Id).ExecuteUpdateAsync(s => s.SetProperty(t => t.PackSlot, 1));
        }

        await using var read = Factory.ForTenant(_acme);
        var trace = await TracePayloads.ReadOneAsync(read, records[0].Call.Id, raw: true, CancellationToken.None);
        Assert.NotNull(trace);
        Assert.Null(trace.RequestJson);
    }

    /// <summary>The database's answer to a batch with a call id already stored.</summary>
    private protected abstract void AssertDuplicateKeyRefused(Exception ex);
}

public sealed class SqliteTracePackTests : TracePackTests
{
    private protected override ICallBatchWriter Writer { get; } = new SqliteCallBatchWriter();

    private protected override bool SearchText => false;

    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }

    private protected override void AssertDuplicateKeyRefused(Exception ex) =>
        Assert.Equal(19, Assert.IsType<SqliteException>(ex).SqliteErrorCode); // SQLITE_CONSTRAINT

    [Fact]
    public async Task Read_TraceRowWrittenBeforePacking_IsReadBesidePackedOnes()
    {
        var old = Record(Acme, "An old question", "An old answer");
        var packed = Record(Acme, "A new question", "A new answer");
        var oldTrace = CallRecorder.ToTrace(old, searchText: false);
        using (var db = Factory.ForSystem())
        {
            // The per-row form the recorder wrote before packing (payloads compressed in the trace row).
            SqliteRowWriter.Insert(db, [old.Call], [oldTrace]);
        }

        Write([packed], [CallRecorder.ToTrace(packed, searchText: false)]);

        await using var read = Factory.ForTenant(Acme);
        var traces = await TracePayloads.ReadAsync(read, [old.Call.Id, packed.Call.Id], raw: false, CancellationToken.None);
        Assert.Equal(oldTrace.RequestJson, traces[old.Call.Id].RequestJson);
        Assert.Equal(oldTrace.AttemptsJson, traces[old.Call.Id].AttemptsJson);
        Assert.Contains("A new question", traces[packed.Call.Id].RequestJson, StringComparison.Ordinal);
        Assert.Null((await read.Traces.AsNoTracking().SingleAsync(t => t.CallId == old.Call.Id)).PackId);

        // Both forms are indexed by the background indexer.
        using (var db = Factory.ForSystem())
        {
            Assert.Equal(2, SqliteTraceIndex.IndexPending(db, 100).Traces);
        }

        Assert.Equal(new[] { old.Call.Id }, await read.TraceIdsMatching(["old", "question"]).ToListAsync());
        Assert.Equal(new[] { packed.Call.Id }, await read.TraceIdsMatching(["new", "question"]).ToListAsync());
    }
}

public sealed class PostgresTracePackTests : TracePackTests
{
    private protected override ICallBatchWriter Writer { get; } = new PostgresCallBatchWriter();

    private protected override bool SearchText => true;

    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }

    private protected override void AssertDuplicateKeyRefused(Exception ex) =>
        Assert.Equal(Npgsql.PostgresErrorCodes.UniqueViolation, Assert.IsType<Npgsql.PostgresException>(ex).SqlState);

    [Fact]
    public async Task Write_PackedTraces_AreFoundByTheSearchVectorAndKeepNoTextInTheRow()
    {
        var old = Record(Acme, "An old question about refunds", "An old answer");
        var packed = Record(Acme, "A new question about invoices", "A new answer");
        var oldTrace = Trace(old);
        await using (var db = Factory.ForSystem())
        {
            // The per-row form PostgreSQL's recorder wrote before packing (payloads in the trace row).
            db.Calls.Add(old.Call);
            db.Traces.Add(oldTrace);
            await db.SaveChangesAsync();
        }

        Write([packed], [Trace(packed)]);

        await using var read = Factory.ForTenant(Acme);
        var traces = await TracePayloads.ReadAsync(read, [old.Call.Id, packed.Call.Id], raw: false, CancellationToken.None);
        Assert.Equal(oldTrace.RequestJson, traces[old.Call.Id].RequestJson);
        Assert.Contains("A new question about invoices", traces[packed.Call.Id].RequestJson, StringComparison.Ordinal);
        var row = await read.Traces.AsNoTracking().SingleAsync(t => t.CallId == packed.Call.Id);
        Assert.NotNull(row.PackId);
        Assert.Null(row.RequestJson);
        Assert.Null(row.SearchText); // the insert trigger turned it into the vector and dropped it

        // Both forms are found by words (stemmed: "invoice" finds "invoices").
        Assert.Equal(new[] { old.Call.Id }, await read.TraceIdsMatching(["refund"]).ToListAsync());
        Assert.Equal(new[] { packed.Call.Id }, await read.TraceIdsMatching(["invoice"]).ToListAsync());
    }
}
