using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>
/// SQLite's background full-text indexing of recorded traces (issue 26): the recorder stores a trace without indexing
/// it, the indexer derives the text from the stored payloads and moves a watermark kept in the database.
/// </summary>
public sealed class TraceIndexerTests : IAsyncLifetime
{
    private SqliteTestDatabase _db = null!;
    private Guid _tenant;
    private int _next;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _tenant = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "acme");
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    /// <summary>Stores calls as the recorder does on SQLite (no search text, nothing indexed), one batch.</summary>
    private List<Guid> Record(params (string System, string User, string Answer)[] calls)
    {
        var records = calls.Select(c =>
        {
            var call = new LlmCall
            {
                Id = Guid.CreateVersion7(), TraceId = Guid.CreateVersion7(), TenantId = _tenant, Feature = "support", Alias = "fast",
                Status = CallStatus.Ok, CreatedUtc = new DateTime(2026, 12, 6, 10, 0, 0, DateTimeKind.Utc).AddSeconds(_next++),
            };
            var request = new ChatRequest { Model = "fast", Messages = [new ChatMessage("system", c.System), new ChatMessage("user", c.User)] };
            return new CallRecord(call, request, new Keystone.Gateway.Caching.CachedAnswer(c.Answer, [], "stop", new Usage(1, 1)), []);
        }).ToList();
        using var db = _db.CreateFactory().ForSystem();
        new SqliteCallBatchWriter().Write(db, [.. records.Select(r => r.Call)], [.. records.Select(r => CallRecorder.ToTrace(r, searchText: false))]);
        return [.. records.Select(r => r.Call.Id)];
    }

    private (long IndexedThrough, int Traces) Pass(int limit = 1_000)
    {
        using var db = _db.CreateFactory().ForSystem();
        return SqliteTraceIndex.IndexPending(db, limit);
    }

    private async Task<List<Guid>> SearchAsync(params string[] words)
    {
        await using var db = _db.CreateFactory().ForTenant(_tenant);
        return await db.TraceIdsMatching(words).ToListAsync();
    }

    [Fact]
    public async Task IndexPending_PassesOfTwo_ResumeFromTheStoredWatermarkAndIndexEachTraceOnce()
    {
        var ids = Record([.. Enumerable.Range(0, 5).Select(i => ("Be brief.", "where is parcel " + i, "on its way"))]);
        Assert.Empty(await SearchAsync("parcel"));

        // Each pass is a fresh start: nothing is kept in memory between passes, only the watermark in the database.
        var first = Pass(limit: 2);
        Assert.Equal(2, first.Traces);
        Assert.Equal(ids.Take(2).Order(), (await SearchAsync("parcel")).Order());
        Assert.Equal(3, Pass(limit: 2).Traces + Pass(limit: 2).Traces);
        Assert.Equal(0, Pass().Traces);

        // Every trace once: a trace indexed twice would be listed twice.
        Assert.Equal(ids.Order(), (await SearchAsync("parcel")).Order());
        await using var db = _db.CreateFactory().ForSystem();
        Assert.Equal(first.IndexedThrough + 3, SqliteTraceIndex.Watermark(db));
    }

    [Fact]
    public async Task IndexPending_Text_IsTheQuestionAndAnswerRedactedWithoutTheSystemPrompt()
    {
        var id = Record(("You are zebra support.", "my email is bob@example.com and my parcel is late", "a refund is on its way"))[0];
        Pass();

        Assert.Equal(new[] { id }, await SearchAsync("parcel", "late"));
        Assert.Equal(new[] { id }, await SearchAsync("refund"));
        Assert.Empty(await SearchAsync("zebra"));
        Assert.Empty(await SearchAsync("bob"));
        Assert.Empty(await SearchAsync("example"));
    }

    [Fact]
    public async Task IndexPending_NewestTracesDeletedThenARowidReused_TheNewTraceIsStillIndexed()
    {
        var ids = Record(("s", "first parcel", "a"), ("s", "second parcel", "b"), ("s", "third parcel", "c"));
        Pass();
        await using (var db = _db.CreateFactory().ForSystem())
        {
            // SQLite gives the next trace the largest rowid plus one: the rowid of a deleted trace the watermark passed.
            await db.Traces.Where(t => t.CallId == ids[1] || t.CallId == ids[2]).ExecuteDeleteAsync();
        }

        var again = Record(("s", "fourth parcel", "d"))[0];
        Pass();

        Assert.Equal(new[] { ids[0], again }.Order(), (await SearchAsync("parcel")).Order());
        Assert.Equal(new[] { again }, await SearchAsync("fourth"));
    }

    [Fact]
    public async Task IndexPending_DamagedOrForeignPayload_IsPassedWithoutStoppingTheOthers()
    {
        // A damaged pack (Brotli refuses it), and a trace row of the per-row form with damaged payloads.
        var ids = Record(("s", "good parcel", "fine"));
        var perRow = Record(("s", "good parcel", "fine"));
        await using (var db = _db.CreateFactory().ForSystem())
        {
            await db.Database.ExecuteSqlAsync($"UPDATE llm_trace_packs SET payloads = X'0210000000FFFFFF' WHERE id = (SELECT pack_id FROM llm_traces WHERE call_id = {ids[0]})");
            await db.Database.ExecuteSqlAsync($"UPDATE llm_traces SET pack_id = NULL, pack_slot = NULL, request_json = X'01FFFFFF', response_json = 'not json' WHERE call_id = {perRow[0]}");
        }

        var good = Record(("s", "other parcel", "fine"))[0];
        Assert.Equal(3, Pass().Traces);
        Assert.Equal(new[] { good }, await SearchAsync("parcel"));
    }

    [Fact]
    public async Task Upgrade_FromAnIndexWrittenOnInsert_StartsAtTheNewestTraceAndALayoutRebuildReDerivesTheText()
    {
        var ids = Record(("s", "older parcel", "fine"), ("s", "newer parcel", "fine"));
        Pass();
        await using var db = _db.CreateFactory().ForSystem();
        // What the previous release left: traces indexed as they were written, no watermark.
        await db.Database.ExecuteSqlRawAsync("DROP TRIGGER llm_traces_index_pending; DROP TABLE llm_trace_index_state;");
        await SqliteModel.EnsureFullTextAsync(db, CancellationToken.None);
        Assert.Equal(SqliteTraceIndex.NewestTrace(db), SqliteTraceIndex.Watermark(db));
        Assert.Equal(0, Pass().Traces);
        Assert.Equal(ids.Order(), (await SearchAsync("parcel")).Order());

        // A new index layout rebuilds from search_text, which the recorder's traces do not have: the indexer re-derives them.
        await db.Database.ExecuteSqlRawAsync("DROP TRIGGER llm_traces_fts_v5_update;");
        await SqliteModel.EnsureFullTextAsync(db, CancellationToken.None);
        Assert.Empty(await SearchAsync("parcel"));
        Assert.Equal(2, Pass().Traces);
        Assert.Equal(ids.Order(), (await SearchAsync("parcel")).Order());
    }

    [Fact]
    public async Task Restart_TracesStoredButNotIndexed_TheNextProcessIndexesThemWithoutANewCall()
    {
        // Stored by a process that stopped before its indexer ran.
        var ids = Record(("s", "stranded parcel", "fine"), ("s", "another stranded parcel", "fine"));
        Assert.Empty(await SearchAsync("stranded"));

        // The next process: its indexer starts with the recorder and catches up on its own.
        await using var gateway = await GatewayHarness.CreateAsync(_db.CreateFactory());
        _ = gateway.Recorder;
        var found = await PollAsync(() => SearchAsync("stranded"), ids.Count);
        Assert.Equal(ids.Order(), found.Order());
    }

    [Fact]
    public async Task Gateway_CallRecordedWithoutFlush_BecomesSearchableWithinSeconds()
    {
        await using var gateway = await GatewayHarness.CreateAsync(_db.CreateFactory());
        var context = new CallContext { TenantId = _tenant, Feature = "support" };
        await gateway.Gateway.CompleteAsync(GatewayHarness.Chat("my quokka parcel is lost"), context, CancellationToken.None);

        var found = await PollAsync(() => SearchAsync("quokka"), 1);
        Assert.Single(found);
    }

    [Fact]
    public async Task OnPostgres_CallRecorded_IsSearchableAtOnceAndItsTextIsNotStoredTwice()
    {
        await using var pg = await PostgresTestDatabase.CreateAsync();
        var factory = pg.CreateFactory();
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "acme");
        await using var gateway = await GatewayHarness.CreateAsync(factory);
        var request = new ChatRequest
        {
            Model = "fast",
            Messages = [new ChatMessage("system", "You are wombat support. " + string.Concat(Enumerable.Repeat("Answer politely and briefly. ", 100))),
                new ChatMessage("user", "my quokka parcel is lost, mail bob@example.com")],
        };
        await gateway.Gateway.CompleteAsync(request, new CallContext { TenantId = tenant, Feature = "support" }, CancellationToken.None);
        await gateway.FlushAsync();

        await using var db = factory.ForTenant(tenant);
        var id = await db.Calls.Select(c => c.Id).SingleAsync();
        Assert.Equal(new[] { id }, await db.TraceIdsMatching(["quokka", "parcels"]).ToListAsync());
        Assert.Empty(await db.TraceIdsMatching(["wombat"]).ToListAsync());
        Assert.Empty(await db.TraceIdsMatching(["bob"]).ToListAsync());
        // The insert trigger turned the text into the search vector and dropped it; the payloads are in the batch's pack
        // (decision 69), whole, and the row holds only the pointer.
        var trace = await db.Traces.AsNoTracking().SingleAsync();
        Assert.Null(trace.SearchText);
        Assert.Null(trace.RequestJson);
        Assert.NotNull(trace.PackId);
        var payloads = await TracePayloads.ReadOneAsync(db, id, raw: false, CancellationToken.None);
        Assert.Contains("quokka parcel", payloads!.RequestJson, StringComparison.Ordinal);
        Assert.Contains("wombat", payloads.RequestJson, StringComparison.Ordinal);
        Assert.NotNull(payloads.ResponseJson);
        // The pack's blob is Brotli already: TOAST never compresses it again (STORAGE EXTERNAL).
        Assert.Null(await db.Database.SqlQuery<string?>($"SELECT pg_column_compression(payloads) AS \"Value\" FROM llm_trace_packs").SingleAsync());
    }

    /// <summary>Reads until <paramref name="count"/> results come back, for at most 30 seconds (a bound, not a timing).</summary>
    internal static async Task<List<Guid>> PollAsync(Func<Task<List<Guid>>> search, int count)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var found = await search();
            if (found.Count >= count || DateTime.UtcNow > until)
            {
                return found;
            }

            await Task.Delay(50);
        }
    }
}
