using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Testing;
using Keystone.Web.Features.Traces;
using Microsoft.EntityFrameworkCore;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Traces;

/// <summary>Trace search on one database; run on SQLite and on PostgreSQL by the two subclasses below.</summary>
public abstract class TraceQueriesTests : IAsyncLifetime
{
    private IAsyncDisposable? _database;

    protected KeystoneDbFactory Factory { get; private set; } = default!;

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        (_database, Factory) = await CreateDatabaseAsync();
        await SeedTenantsAsync(Factory);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    private TraceQueries Queries(TenantScope scope) => new(Scoped(Factory, scope));

    private Task<TracePage> SearchAsync(TraceFilter filter, TenantScope? scope = null, string? cursor = null, int pageSize = 50)
        => Queries(scope ?? TenantScope.All).SearchAsync(filter, cursor, pageSize, CancellationToken.None);

    [Fact]
    public async Task Search_ByFeatureAndUser_ReturnsOnlyMatchingCalls()
    {
        var match = Call(Acme, T0, configure: c => { c.Feature = "billing"; c.EndUser = "cust-42"; });
        var otherFeature = Call(Acme, T0.AddMinutes(1), configure: c => { c.Feature = "chat"; c.EndUser = "cust-42"; });
        var otherUser = Call(Acme, T0.AddMinutes(2), configure: c => { c.Feature = "billing"; c.EndUser = "cust-7"; });
        await AddAsync(Factory, match, otherFeature, otherUser);

        var page = await SearchAsync(new TraceFilter { Feature = "billing", User = "cust-42" });

        Assert.Equal([match.Call.Id], page.Rows.Select(r => r.CallId));
        Assert.Equal("Acme", page.Rows[0].TenantName);
    }

    [Fact]
    public async Task Search_ByModel_MatchesAliasProviderOrProviderSlashModel()
    {
        var a = Call(Acme, T0, configure: c => { c.Alias = "fast"; c.Provider = "openai"; c.Model = "gpt-4o-mini"; });
        var b = Call(Acme, T0.AddMinutes(1), configure: c => { c.Alias = "smart"; c.Provider = "anthropic"; c.Model = "claude-sonnet"; });
        await AddAsync(Factory, a, b);

        Assert.Equal([a.Call.Id], (await SearchAsync(new TraceFilter { Model = "fast" })).Rows.Select(r => r.CallId));
        Assert.Equal([b.Call.Id], (await SearchAsync(new TraceFilter { Model = "anthropic" })).Rows.Select(r => r.CallId));
        Assert.Equal([a.Call.Id], (await SearchAsync(new TraceFilter { Model = "openai/gpt-4o-mini" })).Rows.Select(r => r.CallId));
    }

    [Theory]
    [InlineData(TraceStatusFilter.Ok)]
    [InlineData(TraceStatusFilter.Error)]
    [InlineData(TraceStatusFilter.Fallback)]
    [InlineData(TraceStatusFilter.Cancelled)]
    [InlineData(TraceStatusFilter.Incomplete)]
    [InlineData(TraceStatusFilter.Cached)]
    [InlineData(TraceStatusFilter.Rejected)]
    public async Task Search_ByStatus_ReturnsOnlyThatStatus(TraceStatusFilter status)
    {
        var ok = Call(Acme, T0);
        var error = Call(Acme, T0.AddMinutes(1), configure: c => { c.Status = CallStatus.Error; c.ErrorCode = "upstream_unavailable"; });
        var fallback = Call(Acme, T0.AddMinutes(2), configure: c => { c.Status = CallStatus.Incomplete; c.FellBack = true; });
        var cancelled = Call(Acme, T0.AddMinutes(3), configure: c => c.Status = CallStatus.Cancelled);
        var cached = Call(Acme, T0.AddMinutes(4), configure: c => { c.Status = CallStatus.Error; c.CacheStatus = CacheStatus.Semantic; });
        var rejected = Call(Acme, T0.AddMinutes(5), configure: c => c.Status = CallStatus.Rejected);
        await AddAsync(Factory, ok, error, fallback, cancelled, cached, rejected);
        var expected = status switch
        {
            TraceStatusFilter.Ok => new[] { ok },
            TraceStatusFilter.Error => [cached, error],
            TraceStatusFilter.Fallback => [fallback],
            TraceStatusFilter.Cancelled => [cancelled],
            TraceStatusFilter.Incomplete => [fallback],
            TraceStatusFilter.Cached => [cached],
            _ => [rejected],
        };

        var page = await SearchAsync(new TraceFilter { Status = status });

        Assert.Equal(expected.Select(e => e.Call.Id), page.Rows.Select(r => r.CallId));
    }

    [Fact]
    public async Task Search_ByCostLatencyDateAndPrompt_AppliesEveryBound()
    {
        var version = Guid.NewGuid();
        var match = Call(Acme, T0.AddDays(1), configure: c => { c.CostMicros = 5_000; c.LatencyMs = 900; c.PromptName = "support-answer"; c.PromptVersionId = version; });
        var cheap = Call(Acme, T0.AddDays(1), configure: c => { c.CostMicros = 100; c.LatencyMs = 900; c.PromptName = "support-answer"; c.PromptVersionId = version; });
        var fast = Call(Acme, T0.AddDays(1), configure: c => { c.CostMicros = 5_000; c.LatencyMs = 50; c.PromptName = "support-answer"; c.PromptVersionId = version; });
        var early = Call(Acme, T0, configure: c => { c.CostMicros = 5_000; c.LatencyMs = 900; c.PromptName = "support-answer"; c.PromptVersionId = version; });
        var otherVersion = Call(Acme, T0.AddDays(1), configure: c => { c.CostMicros = 5_000; c.LatencyMs = 900; c.PromptName = "support-answer"; c.PromptVersionId = Guid.NewGuid(); });
        var otherPrompt = Call(Acme, T0.AddDays(1), configure: c => { c.CostMicros = 5_000; c.LatencyMs = 900; c.PromptName = "summary"; c.PromptVersionId = version; });
        await AddAsync(Factory, match, cheap, fast, early, otherVersion, otherPrompt);

        var page = await SearchAsync(new TraceFilter
        {
            MinCostMicros = 1_000,
            MaxCostMicros = 10_000,
            MinLatencyMs = 500,
            MaxLatencyMs = 1_000,
            FromUtc = T0.AddHours(12),
            ToUtc = T0.AddDays(2),
            PromptName = "support-answer",
            PromptVersionId = version,
        });

        Assert.Equal([match.Call.Id], page.Rows.Select(r => r.CallId));
    }

    [Fact]
    public async Task Search_ByTraceId_FindsTheCallsOfThatTraceOrTheCall()
    {
        var first = Call(Acme, T0);
        var second = Call(Acme, T0.AddSeconds(1), configure: c => c.TraceId = first.Call.TraceId);
        var other = Call(Acme, T0.AddSeconds(2));
        await AddAsync(Factory, first, second, other);

        var byTrace = await SearchAsync(new TraceFilter { TraceId = first.Call.TraceId });
        var byCall = await SearchAsync(new TraceFilter { TraceId = other.Call.Id });

        Assert.Equal([second.Call.Id, first.Call.Id], byTrace.Rows.Select(r => r.CallId));
        Assert.Equal([other.Call.Id], byCall.Rows.Select(r => r.CallId));
    }

    [Fact]
    public async Task Search_FullText_FindsAWordInThePromptAndInTheAnswer()
    {
        var inPrompt = Call(Acme, T0, prompt: "My parcel never arrived, can I get a refund?", answer: "Let me check the shipment.");
        var inAnswer = Call(Acme, T0.AddMinutes(1), prompt: "Where is my order?", answer: "The courier marked it as delivered to the neighbour.");
        var neither = Call(Acme, T0.AddMinutes(2), prompt: "What is your name?", answer: "I am the support assistant.");
        await AddAsync(Factory, inPrompt, inAnswer, neither);

        var refund = await SearchAsync(new TraceFilter { Text = "refund" });
        var courier = await SearchAsync(new TraceFilter { Text = "Courier neighbour" });

        Assert.Equal([inPrompt.Call.Id], refund.Rows.Select(r => r.CallId));
        Assert.Equal([inAnswer.Call.Id], courier.Rows.Select(r => r.CallId));
    }

    [Fact]
    public async Task Search_FullText_RedactedValueIsNotFindableByItsRawText()
    {
        var redacted = Call(Acme, T0, prompt: "Please email me at [REDACTED_EMAIL] about the invoice",
            rawPrompt: "Please email me at jane.doe@example.com about the invoice");
        await AddAsync(Factory, redacted);

        var byRaw = await SearchAsync(new TraceFilter { Text = "jane.doe@example.com" });
        var byName = await SearchAsync(new TraceFilter { Text = "jane" });
        var byOtherWord = await SearchAsync(new TraceFilter { Text = "invoice" });

        Assert.Empty(byRaw.Rows);
        Assert.Empty(byName.Rows);
        Assert.Equal([redacted.Call.Id], byOtherWord.Rows.Select(r => r.CallId));
    }

    [Fact]
    public async Task Search_FullTextWithQuerySyntaxInInput_SearchesTheWordsInsteadOfFailing()
    {
        var match = Call(Acme, T0, prompt: "refund the order", answer: "done");
        await AddAsync(Factory, match);

        var page = await SearchAsync(new TraceFilter { Text = "\"refund\" AND (order* OR -NEAR( :: & | !" });

        Assert.Empty(page.Rows);
        Assert.Equal([match.Call.Id], (await SearchAsync(new TraceFilter { Text = "refund) (order\"" })).Rows.Select(r => r.CallId));
    }

    [Fact]
    public async Task Search_FullTextAfterTraceDeleted_NoLongerFindsIt()
    {
        var call = Call(Acme, T0, prompt: "zebra crossing");
        await AddAsync(Factory, call);
        await using (var db = Factory.ForSystem())
        {
            db.Traces.Remove(await db.Traces.FindAsync(call.Call.Id) ?? throw new InvalidOperationException());
            await db.SaveChangesAsync();
        }

        var page = await SearchAsync(new TraceFilter { Text = "zebra" });

        Assert.Empty(page.Rows);
    }

    [Fact]
    public async Task Search_TenantScope_OtherTenantsTraceIsNotReturned()
    {
        var acme = Call(Acme, T0, prompt: "shared secret word");
        var globex = Call(Globex, T0.AddMinutes(1), prompt: "shared secret word");
        await AddAsync(Factory, acme, globex);

        var asAcme = await SearchAsync(new TraceFilter { Text = "secret" }, TenantScope.For(Acme));
        var byIdAsAcme = await SearchAsync(new TraceFilter { TraceId = globex.Call.Id }, TenantScope.For(Acme));
        var asPlatform = await SearchAsync(new TraceFilter { Text = "secret" }, TenantScope.All);
        var asNobody = await SearchAsync(TraceFilter.Empty, TenantScope.None);

        Assert.Equal([acme.Call.Id], asAcme.Rows.Select(r => r.CallId));
        Assert.Empty(byIdAsAcme.Rows);
        Assert.Equal(2, asPlatform.Rows.Count);
        Assert.Empty(asNobody.Rows);
    }

    [Theory]
    [InlineData(TraceSort.Time)]
    [InlineData(TraceSort.Cost)]
    [InlineData(TraceSort.Latency)]
    public async Task Search_KeysetPages_ReturnEveryCallOnceInSortOrder(TraceSort sort)
    {
        // Few distinct values, so ties across page boundaries are certain and the id tie-breaker is exercised.
        var rows = Enumerable.Range(0, 23).Select(i => Call(Acme, T0.AddMinutes(i % 4), configure: c =>
        {
            c.CostMicros = 1_000 * (i % 3);
            c.LatencyMs = 100 * (i % 5);
        })).ToArray();
        await AddAsync(Factory, rows);

        var seen = new List<TraceRow>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await SearchAsync(new TraceFilter { Sort = sort }, cursor: cursor, pageSize: 5);
            seen.AddRange(page.Rows);
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null && pages < 10);

        Assert.Equal(5, pages);
        Assert.Equal(rows.Select(r => r.Call.Id).Order(), seen.Select(r => r.CallId).Order());
        var keys = seen.Select(r => sort switch { TraceSort.Cost => r.CostMicros, TraceSort.Latency => r.LatencyMs, _ => r.CreatedUtc.Ticks }).ToList();
        Assert.Equal(keys.OrderDescending(), keys);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Search_FullTextKeysetPages_ReturnEveryMatchOnceNewestFirst(bool dateRange, bool feature)
    {
        // Calls 0.3 ms apart with some exact ties: several share a millisecond, so the newest-first reading of the
        // full-text index (window by window on SQLite) must split and join its windows without losing or
        // repeating a call, and the tie-breaker (the id; the rowid on SQLite) must break ties as in any other time-ordered
        // search. Half are Globex's,
        // a quarter lack the word: the tenant scope and the word both thin out each window.
        var rows = Enumerable.Range(0, 80).Select(i =>
        {
            var created = T0.AddTicks(3_000L * (i % 7 == 6 ? i - 1 : i));
            return Call(i % 2 == 0 ? Acme : Globex, created, prompt: i % 4 == 3 ? "nothing to see" : $"where is parcel {i}",
                configure: c => c.Feature = i % 3 == 0 ? "support.chat" : "billing");
        }).ToArray();
        await AddAsync(Factory, rows);
        var filter = new TraceFilter
        {
            Text = "parcel",
            Feature = feature ? "support.chat" : null,
            FromUtc = dateRange ? T0.AddMilliseconds(3) : null,
            ToUtc = dateRange ? T0.AddTicks(3_000L * 70) : null,
        };
        var ties = await TieBreakersAsync();
        var expected = rows
            .Where(r => r.Call.TenantId == Acme && r.Trace.SearchText!.Contains("parcel", StringComparison.Ordinal))
            .Where(r => filter.Feature is null || r.Call.Feature == filter.Feature)
            .Where(r => filter.FromUtc is not { } from || r.Call.CreatedUtc >= from)
            .Where(r => filter.ToUtc is not { } to || r.Call.CreatedUtc < to)
            .OrderByDescending(r => r.Call.CreatedUtc).ThenByDescending(r => ties?[r.Call.Id] ?? 0).ThenByDescending(r => r.Call.Id.ToString(), StringComparer.Ordinal)
            .Select(r => r.Call.Id)
            .ToList();

        var seen = new List<Guid>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await SearchAsync(filter, TenantScope.For(Acme), cursor, pageSize: 3);
            seen.AddRange(page.Rows.Select(r => r.CallId));
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null && pages < 40);

        Assert.True(expected.Count > 6, $"the data should span several pages, has {expected.Count} matches");
        Assert.Equal(expected, seen);
    }

    [Theory]
    [InlineData(TraceSort.Time)]
    [InlineData(TraceSort.Cost)]
    [InlineData(TraceSort.Latency)]
    public async Task Search_CursorNamingTheCallId_ContinuesAfterThatCall(TraceSort sort)
    {
        // The cursor form before SQLite's tie-breaker became the rowid (decision 63): value and call id. A link or an API
        // client holding one across the upgrade gets the same next page as with the cursor the search gives now.
        var rows = Enumerable.Range(0, 12).Select(i => Call(Acme, T0.AddMinutes(i % 3), configure: c =>
        {
            c.CostMicros = 1_000 * (i % 2);
            c.LatencyMs = 100 * (i % 4);
        })).ToArray();
        await AddAsync(Factory, rows);
        var filter = new TraceFilter { Sort = sort };
        var first = await SearchAsync(filter, pageSize: 5);
        var last = first.Rows[^1];
        var value = sort switch { TraceSort.Cost => last.CostMicros, TraceSort.Latency => last.LatencyMs, _ => last.CreatedUtc.Ticks };

        var byCallId = await SearchAsync(filter, cursor: FormattableString.Invariant($"{value}_{last.CallId:N}"), pageSize: 5);
        var current = await SearchAsync(filter, cursor: first.NextCursor, pageSize: 5);

        Assert.Equal(5, current.Rows.Count);
        Assert.Equal(current.Rows.Select(r => r.CallId), byCallId.Rows.Select(r => r.CallId));
        Assert.Empty(first.Rows.Select(r => r.CallId).Intersect(current.Rows.Select(r => r.CallId)));
    }

    /// <summary>The tie-breaker of equal sort values per call, when it is not the call id: SQLite's rowid (decision 63).</summary>
    protected virtual Task<Dictionary<Guid, long>?> TieBreakersAsync() => Task.FromResult<Dictionary<Guid, long>?>(null);

    [Fact]
    public async Task Search_TamperedCursor_StartsFromTheTop()
    {
        await AddAsync(Factory, Call(Acme, T0), Call(Acme, T0.AddMinutes(1)));

        var page = await SearchAsync(TraceFilter.Empty, cursor: "not-a-cursor'; DROP TABLE llm_calls;--");

        Assert.Equal(2, page.Rows.Count);
    }
}

public sealed class SqliteTraceQueriesTests : TraceQueriesTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }

    protected override async Task<Dictionary<Guid, long>?> TieBreakersAsync()
    {
        await using var db = Factory.ForSystem();
        return await db.Calls.Select(c => new { c.Id, Key = CallRowKey.Of(c.Id) }).ToDictionaryAsync(c => c.Id, c => c.Key);
    }
}

public sealed class PostgresTraceQueriesTests : TraceQueriesTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}
