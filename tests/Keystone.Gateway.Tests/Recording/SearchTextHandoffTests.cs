using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>
/// The recorder hands the search text of what it wrote to SQLite's background indexer (decision 0071): the text must be
/// exactly what the indexer derives from the stored pack (redacted), and anything not handed over is still derived.
/// </summary>
public sealed class SearchTextHandoffTests : IAsyncLifetime
{
    private SqliteTestDatabase _db = null!;
    private Guid _tenant;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _tenant = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "acme");
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private const string SystemPrompt = "You are the support assistant of Northwind Parcel. Never reveal internal notes. Answer briefly.";

    /// <summary>
    /// Calls as the gateway records them, with what redaction has to deal with: keys, e-mail addresses (one with a '+',
    /// which the JSON writer escapes), a card number, a phone number, text JSON escapes (quotes, newlines, '&lt;'),
    /// emoji, a lone surrogate, an address right after a quote, tool turns without content, a refused call without an answer.
    /// </summary>
    private static List<CallRecord> RealisticCalls(Guid tenant)
    {
        string[][] turns =
        [
            ["Where is my parcel NW-20311? It was due on Monday.", "It left the depot this morning and should arrive today."],
            ["My email is jane.doe@example.com, send the invoice there please.", "I have sent the invoice to your address."],
            ["Use my key sk-proj-Abc123Def456Ghi789Jkl012 to call the API", "Please never share API keys; revoke that one."],
            ["Pay with 4111 1111 1111 1111 and call me on +44 20 7946 0958", "I cannot take card details in chat."],
            ["Write to bob+parcels@example.org about \"order 42\"\nand <b>thank</b> them & sign off", "Done: \"Dear Bob,\nthanks\""],
            ["Die Lieferung ist beschädigt 📦😞 — was nun?", "Das tut mir leid 🙏. Ich eröffne eine Reklamation."],
            ["broken text \uD83D here", "noted"],
            ["line one\nks_live_0123456789abcdef0123 in a note", "I have removed it."],
            // The JSON writer escapes the quote before the address (\u0022): the strings are redacted, not the JSON, so the
            // escape is never taken with the address and the stored request stays JSON (Redactor.RedactJson).
            ["forward it to \"ops@northwind.example\" today", "Forwarded to operations."],
        ];
        var created = new DateTime(2026, 12, 6, 10, 0, 0, DateTimeKind.Utc);
        var records = new List<CallRecord>();
        foreach (var (pair, i) in turns.Select((t, i) => (t, i)))
        {
            var request = new ChatRequest
            {
                Model = "fast",
                Messages =
                [
                    new ChatMessage("system", SystemPrompt),
                    new ChatMessage("user", "Hello, I need help with an order."),
                    new ChatMessage("assistant", null, [new ToolCall("call_1", "lookup_order", "{\"id\":\"NW-20311\"}")]),
                    new ChatMessage("tool", "{\"status\":\"in transit\",\"warehouse\":\"Leeds\"}", ToolCallId: "call_1"),
                    new ChatMessage("user", pair[0]),
                ],
            };
            records.Add(Record(tenant, created.AddSeconds(i), request, new CachedAnswer(pair[1], [], "stop", new Usage(120, 30))));
        }

        // Refused before a provider answered: a request and no answer.
        records.Add(Record(tenant, created.AddSeconds(100), GatewayHarness.Chat("over budget parcel question"), null));
        return records;
    }

    private static CallRecord Record(Guid tenant, DateTime created, ChatRequest? request, CachedAnswer? answer)
    {
        var call = new LlmCall
        {
            Id = Guid.CreateVersion7(), TraceId = Guid.CreateVersion7(), TenantId = tenant, Feature = "support", Alias = "fast",
            Status = answer is null ? CallStatus.Error : CallStatus.Ok, CreatedUtc = created,
        };
        return new CallRecord(call, request, answer, [new Attempt("up", "gpt-4o-mini", "ok", 200, null, 7)]);
    }

    /// <summary>Writes a batch as the recorder does on SQLite, the texts handed to <paramref name="handoff"/> (if any).</summary>
    private static void Write(KeystoneDbFactory factory, IReadOnlyList<CallRecord> records, SearchTextHandoff? handoff)
    {
        using var db = factory.ForSystem();
        new SqliteCallBatchWriter(handoff).Write(db, [.. records.Select(r => r.Call)],
            [.. records.Select(r => CallRecorder.ToTrace(r, searchText: false, indexerText: handoff is not null))]);
    }

    private static (long IndexedThrough, int Traces) Pass(KeystoneDbFactory factory, SearchTextHandoff? handoff)
    {
        using var db = factory.ForSystem();
        return SqliteTraceIndex.IndexPending(db, 1_000, handoff);
    }

    private async Task<List<Guid>> SearchAsync(params string[] words)
    {
        await using var db = _db.CreateFactory().ForTenant(_tenant);
        return await db.TraceIdsMatching(words).ToListAsync();
    }

    [Fact]
    public void ToTrace_RealisticCalls_StoreRedactedPayloadsThatAreStillJson()
    {
        string[] secrets = ["jane.doe@example.com", "sk-proj-Abc123Def456Ghi789Jkl012", "4111 1111 1111 1111", "7946 0958", "parcels@example.org",
            "ks_live_0123456789abcdef0123", "ops@northwind.example"];
        foreach (var record in RealisticCalls(Guid.NewGuid()))
        {
            var trace = CallRecorder.ToTrace(record, searchText: false);
            foreach (var json in new[] { trace.RequestJson, trace.ResponseJson }.OfType<string>())
            {
                // Redacting the serialized text could take an escape's tail with an address (\u0022ops@…) and leave no JSON.
                using var parsed = System.Text.Json.JsonDocument.Parse(json);
                Assert.All(secrets, secret => Assert.DoesNotContain(secret, json, StringComparison.Ordinal));
            }
        }
    }

    [Fact]
    public async Task Offer_RealisticCallsWithSecrets_EachTextIsExactlyWhatTheIndexerDerivesFromItsPack()
    {
        var records = RealisticCalls(_tenant);
        var handoff = new SearchTextHandoff();
        Write(_db.CreateFactory(), records, handoff);

        await using var db = _db.CreateFactory().ForSystem();
        var rows = await db.Database.SqlQueryRaw<StoredTrace>("SELECT rowid, call_id, pack_id, pack_slot AS slot FROM llm_traces").ToListAsync();
        Assert.Equal(records.Count, rows.Count);
        var texts = new List<string>();
        foreach (var row in rows)
        {
            var blob = await db.Database.SqlQuery<byte[]>($"SELECT payloads AS \"Value\" FROM llm_trace_packs WHERE id = {row.PackId}").SingleAsync();
            var slot = TracePack.Decode(blob)[row.Slot];
            Assert.True(handoff.TryTake(row.Rowid, row.CallId, out var handed), $"no text handed over for trace {row.Rowid}");
            Assert.Equal(TraceSearchText.FromStored(slot.RequestJson, slot.ResponseJson) ?? "", handed);
            texts.Add(handed);
        }

        // The cases are live: secrets were redacted from the text, the system prompt is left out, questions are in.
        var all = string.Join("\n", texts);
        Assert.Contains(Redactor.ApiKeyToken, all, StringComparison.Ordinal);
        Assert.Contains(Redactor.EmailToken, all, StringComparison.Ordinal);
        Assert.Contains(Redactor.CardToken, all, StringComparison.Ordinal);
        Assert.DoesNotContain("jane.doe", all, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-proj", all, StringComparison.Ordinal);
        Assert.DoesNotContain("Northwind Parcel", all, StringComparison.Ordinal);
        Assert.Contains("user: Where is my parcel NW-20311?", all, StringComparison.Ordinal);
        Assert.Equal(0, handoff.Count);
        Assert.Equal(0, handoff.Chars);
    }

    private sealed record StoredTrace(long Rowid, Guid CallId, long PackId, int Slot);

    [Fact]
    public async Task IndexPending_HandedOver_GivesTheSameFullTextRowsAsDerivingFromThePacks()
    {
        // The same calls in two databases: one indexed from the hand-off, the other from its packs.
        var records = RealisticCalls(_tenant);
        var handoff = new SearchTextHandoff();
        Write(_db.CreateFactory(), records, handoff);
        await using var other = await SqliteTestDatabase.CreateAsync();
        var otherTenant = await GatewayHarness.CreateTenantAsync(other.CreateFactory(), "acme");
        Write(other.CreateFactory(), [.. records.Select(r => r with { Call = Clone(r.Call, otherTenant) })], handoff: null);

        // Damaged packs where the hand-off is used: if the indexer read them, its rows would lack the text.
        await using (var db = _db.CreateFactory().ForSystem())
        {
            await db.Database.ExecuteSqlRawAsync("UPDATE llm_trace_packs SET payloads = X'0210000000FFFFFF'");
        }

        Assert.Equal(records.Count, Pass(_db.CreateFactory(), handoff).Traces);
        Assert.Equal(records.Count, Pass(other.CreateFactory(), null).Traces);

        var handed = await FullTextRowsAsync(_db.CreateFactory());
        Assert.NotEmpty(handed);
        Assert.Equal(await FullTextRowsAsync(other.CreateFactory()), handed);
        Assert.Equal(records.Count, handoff.Taken);
        Assert.Equal(0, handoff.Count);
    }

    private static LlmCall Clone(LlmCall call, Guid tenant) => new()
    {
        Id = call.Id, TraceId = call.TraceId, TenantId = tenant, Feature = call.Feature, Alias = call.Alias, Status = call.Status, CreatedUtc = call.CreatedUtc,
    };

    /// <summary>Every (term, document) of the search text column: the full-text index is contentless, so its terms are what it holds.</summary>
    private static async Task<List<string>> FullTextRowsAsync(KeystoneDbFactory factory)
    {
        await using var db = factory.ForSystem();
        await db.Database.OpenConnectionAsync();
        await db.Database.ExecuteSqlRawAsync("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_terms USING fts5vocab(main, llm_traces_fts, instance)");
        return await db.Database.SqlQueryRaw<string>(
            "SELECT term || ' @' || doc AS \"Value\" FROM temp.fts_terms WHERE col = 'search_text' ORDER BY doc, term").ToListAsync();
    }

    [Fact]
    public async Task IndexPending_AfterARestartWithNothingHandedOver_DerivesEveryTextFromThePacks()
    {
        var records = RealisticCalls(_tenant);
        // Written by a process that stopped before its indexer ran: its hand-off died with it.
        Write(_db.CreateFactory(), records, new SearchTextHandoff());

        var fresh = new SearchTextHandoff();
        Assert.Equal(records.Count, Pass(_db.CreateFactory(), fresh).Traces);

        Assert.Equal(0, fresh.Taken);
        Assert.Equal(new[] { records[0].Call.Id }, await SearchAsync("depot"));
        Assert.Equal(new[] { records[^1].Call.Id }, await SearchAsync("budget"));
        Assert.Empty(await SearchAsync("jane"));
    }

    [Fact]
    public async Task IndexPending_HandOffCoversPartOfTheRangeOrNamesAnotherCall_TheRestIsDerivedFromThePacks()
    {
        var records = RealisticCalls(_tenant);
        var handoff = new SearchTextHandoff();
        Write(_db.CreateFactory(), records[..3], handoff: null);
        Write(_db.CreateFactory(), records[3..], handoff);
        long firstRowid;
        await using (var db = _db.CreateFactory().ForSystem())
        {
            firstRowid = await db.Database.SqlQuery<long>($"SELECT min(rowid) AS \"Value\" FROM llm_traces").SingleAsync();
        }

        // A text held for the first trace's rowid but another call (its rowid reused): not this trace's text.
        handoff.Offer([(firstRowid, Guid.CreateVersion7(), "user: decoy wallaby")]);

        var (through, traces) = Pass(_db.CreateFactory(), handoff);
        Assert.Equal(records.Count, traces);
        Assert.Equal(records.Count - 3, handoff.Taken);
        Assert.Equal(new[] { records[0].Call.Id }, await SearchAsync("depot"));
        Assert.Equal(new[] { records[3].Call.Id }, await SearchAsync("card", "details"));
        Assert.Empty(await SearchAsync("wallaby"));

        // The decoy was not taken; the pass's watermark lets it go.
        Assert.Equal(1, handoff.Count);
        handoff.Forget(through);
        Assert.Equal(0, handoff.Count);
        Assert.Equal(0, handoff.Chars);
    }

    [Fact]
    public async Task Offer_PastTheCap_DropsTheRestAndTheIndexerDerivesThemFromThePacks()
    {
        var records = RealisticCalls(_tenant)[..3];
        var texts = records.Select(r => CallRecorder.ToTrace(r, searchText: false, indexerText: true).SearchText!).ToList();
        // Room for the first trace's text and for neither of the others beside it.
        var handoff = new SearchTextHandoff(maxChars: texts[0].Length + Math.Min(texts[1].Length, texts[2].Length) - 1);
        Write(_db.CreateFactory(), records, handoff);

        Assert.Equal(1, handoff.Count);
        Assert.Equal(texts[0].Length, handoff.Chars);
        Assert.Equal(2, handoff.Dropped);

        Assert.Equal(3, Pass(_db.CreateFactory(), handoff).Traces);
        Assert.Equal(1, handoff.Taken);
        Assert.Equal(new[] { records[1].Call.Id }, await SearchAsync("invoice"));
        Assert.Equal(new[] { records[2].Call.Id }, await SearchAsync("revoke"));
        Assert.Equal(0, handoff.Count);
    }

    [Fact]
    public void Indexer_HandOffFull_TheRecorderIsToldNotToDeriveTheText()
    {
        var handoff = new SearchTextHandoff(maxChars: 10);
        using var indexer = new SqliteTraceIndexer(_db.CreateFactory(), NullLogger<SqliteTraceIndexer>.Instance, handoff);
        Assert.True(((ITraceIndexer)indexer).TakesSearchText);

        handoff.Offer([(1, Guid.CreateVersion7(), "0123456789")]);
        Assert.True(handoff.IsFull);
        Assert.False(((ITraceIndexer)indexer).TakesSearchText);
    }

    [Fact]
    public async Task Gateway_OnSqlite_HandsTheRecordedTextToTheIndexer()
    {
        await using var gateway = await GatewayHarness.CreateAsync(_db.CreateFactory());
        var handoff = gateway.Services.GetRequiredService<SearchTextHandoff>();
        var context = new CallContext { TenantId = _tenant, Feature = "support" };
        await gateway.Gateway.CompleteAsync(GatewayHarness.Chat("my numbat parcel is lost"), context, CancellationToken.None);
        await gateway.FlushAsync();

        Assert.Single(await SearchAsync("numbat"));
        Assert.Equal(1, handoff.Taken);
        Assert.Equal(0, handoff.Count);
        Assert.Equal(0, handoff.Dropped);
    }
}
