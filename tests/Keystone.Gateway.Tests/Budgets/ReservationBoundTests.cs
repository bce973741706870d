using System.Text.Json;
using Keystone.Data;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Gateway.Tokenization;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Keystone.Gateway.Tests.Budgets;

/// <summary>
/// The reservation without a full tokenize (issue 26, decision 0048), on both databases: while a cap is far from its
/// limit the prompt's upper bound (its UTF-8 length) is reserved and the prompt is never tokenized; near the limit the
/// exact count decides, so a call whose exact worst case fits goes through and a refusal only ever comes from the exact
/// count. And the bound is never below the exact count, on a varied corpus.
/// </summary>
public sealed class ReservationBoundTests
{
    public static TheoryData<string> Databases => new() { "sqlite", "postgres" };

    [Theory]
    [MemberData(nameof(Databases))]
    public async Task Reserve_CapFarFromItsLimit_ReservesTheBoundWithoutTokenizing(string database)
    {
        await using var db = await CreateDbAsync(database);
        var counter = new CountingTokenCounter();
        await using var gateway = await CreateGatewayAsync(db.Factory, counter);
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "far");
        var request = GatewayHarness.Chat(Prompt, maxTokens: 16);
        var (exact, rough) = await WorstCasesAsync(gateway, request);
        Assert.True(rough > exact, "the bound must be above the exact count for this test to tell them apart");
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, rough * (CallAdmission.FarFactor + 10))],
            null, null, CancellationToken.None);
        counter.Reset();

        var result = await gateway.Gateway.CompleteAsync(request, new CallContext { TenantId = tenant }, CancellationToken.None);

        await gateway.FlushAsync();
        Assert.Equal(0, counter.PromptCounts);
        await using var read = db.Factory.ForTenant(tenant);
        var row = await read.BudgetCounters.AsNoTracking().SingleAsync();
        // Settled at the real cost (the simulated model answers with max_tokens, so its exact worst case), nothing held.
        Assert.Equal((exact, 0L), (row.SpentMicros, row.ReservedMicros));
        Assert.Equal(exact, result.Outcome.CostMicros);
    }

    [Theory]
    [MemberData(nameof(Databases))]
    public async Task Reserve_CapNearItsLimit_ExactCountDecides(string database)
    {
        await using var db = await CreateDbAsync(database);
        var counter = new CountingTokenCounter();
        await using var gateway = await CreateGatewayAsync(db.Factory, counter);
        var tenant = await GatewayHarness.CreateTenantAsync(db.Factory, "near");
        var request = GatewayHarness.Chat(Prompt, maxTokens: 16);
        var (exact, rough) = await WorstCasesAsync(gateway, request);
        Assert.True(rough > exact);
        // Room for the exact worst case, not for the bound: the bound alone would have refused.
        await gateway.Budgets.SetAsync(tenant, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, exact)], null, null, CancellationToken.None);
        var context = new CallContext { TenantId = tenant };
        counter.Reset();

        var admitted = await gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);

        Assert.Equal(exact, admitted.Outcome.CostMicros);
        Assert.Equal(1, counter.PromptCounts);

        // Now one exact worst case is spent (the simulated model answers with max_tokens): the next call does not fit, and
        // its refusal names the exact worst case, not the bound's.
        counter.Reset();
        var refused = await Assert.ThrowsAsync<GatewayException>(() => gateway.Gateway.CompleteAsync(request, context, CancellationToken.None));
        Assert.Equal(GatewayErrorCodes.BudgetExceeded, refused.Error.Code);
        Assert.Equal(exact, refused.Error.Cap!.WorstCaseMicros);
        Assert.Equal(1, counter.PromptCounts);
        await gateway.FlushAsync();
        await using var read = db.Factory.ForTenant(tenant);
        var row = await read.BudgetCounters.AsNoTracking().SingleAsync();
        Assert.True(row.SpentMicros <= exact, $"spent {row.SpentMicros} above the cap {exact}");
        Assert.Equal(0, row.ReservedMicros);
    }

    [Fact]
    public void UpperBound_VariedCorpus_NeverBelowTheExactCount()
    {
        var counter = TokenCounter.Instance;
        var random = new Random(26);
        var pieces = new[]
        {
            "Summarize the ticket below in two sentences.", "émigré naïve café façade", "東京都の天気は晴れです。", "Привет, как дела?",
            "مرحبا بالعالم", "नमस्ते दुनिया", "🙂🚀👩‍👩‍👧‍👦 flags 🇩🇪🇯🇵", "<|endoftext|><|endofprompt|>", "{\"a\":[1,2,3],\"b\":{\"c\":null}}",
            "    indented\tcode();\r\n", "https://example.com/path?q=1&r=2#frag", "0123456789 3.14159 -42 1e10", "\u00a0\u2003\u200b zero-width",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "\ud800 lone high, lone low \udc00", "ÅÄÖ ß ẞ ǅ İ ı",
        };
        var texts = new List<string>(pieces) { "", " ", new string('x', 5000), string.Concat(Enumerable.Repeat("🙂", 600)) };
        for (var i = 0; i < 300; i++)
        {
            texts.Add(string.Join(random.Next(3) switch { 0 => " ", 1 => "\n", _ => "" },
                Enumerable.Range(0, random.Next(1, 40)).Select(_ => pieces[random.Next(pieces.Length)])));
        }

        // Random code points across the planes (BMP letters, CJK, emoji, combining marks), in long runs (the sliced path).
        for (var i = 0; i < 100; i++)
        {
            var sb = new System.Text.StringBuilder();
            for (var j = 0; j < random.Next(1, 800); j++)
            {
                var cp = random.Next(4) switch { 0 => random.Next(0x20, 0x7f), 1 => random.Next(0x300, 0x370), 2 => random.Next(0x4e00, 0x9fff), _ => random.Next(0x1f300, 0x1faff) };
                sb.Append(char.ConvertFromUtf32(cp));
            }

            texts.Add(sb.ToString());
        }

        foreach (var text in texts)
        {
            Assert.True(TokenCounter.UpperBound(text) >= counter.Count(text), $"bound {TokenCounter.UpperBound(text)} < count {counter.Count(text)} for: {text}");
        }

        // A whole chat with names, tool calls and tool definitions: the chat bound covers the chat count.
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string","description":"城市"}}}""");
        for (var i = 0; i < 50; i++)
        {
            var messages = Enumerable.Range(0, random.Next(1, 6)).Select(k => new ChatMessage(
                k % 2 == 0 ? "user" : "assistant", texts[random.Next(texts.Count)],
                k % 3 == 1 ? [new ToolCall("call_" + k, "weather", "{\"city\":\"" + pieces[random.Next(pieces.Length)].Replace("\"", "", StringComparison.Ordinal) + "\"}")] : null,
                null, k % 4 == 0 ? "ana" : null)).ToList();
            ToolDefinition[] tools = [new("weather", "Das Wetter für eine Stadt 🌦", schema.RootElement.Clone())];
            Assert.True(TokenCounter.UpperBoundChat(messages, tools) >= counter.CountChat(messages, tools));
        }
    }

    private static readonly string Prompt = "You are a careful assistant for Müller & Söhne GmbH. Answer in German or English. 東京 🙂 "
        + string.Concat(Enumerable.Repeat("The quarterly report covers revenue, costs and the outlook for next year. ", 20));

    /// <summary>The exact and the rough worst case of <paramref name="request"/> on the sim-fast price.</summary>
    private static async Task<(long Exact, long Rough)> WorstCasesAsync(GatewayHarness gateway, ChatRequest request)
    {
        var price = await gateway.Services.GetRequiredService<IGatewayPricing>().FindAsync("sim", "sim-fast", DateTime.UtcNow, CancellationToken.None);
        var tokens = gateway.Services.GetRequiredService<IPromptTokenCounter>();
        return (price!.WorstCaseMicros(tokens.CountPrompt(request), request.MaxTokens!.Value),
            price.WorstCaseMicros(tokens.PromptUpperBound(request), request.MaxTokens!.Value));
    }

    private static Task<GatewayHarness> CreateGatewayAsync(KeystoneDbFactory factory, CountingTokenCounter counter)
        => GatewayHarness.CreateAsync(factory, configure: services =>
        {
            counter.Inner = TokenCounter.Instance;
            services.RemoveAll<IPromptTokenCounter>();
            services.AddSingleton<IPromptTokenCounter>(counter);
        });

    /// <summary>The real counter, counting how often the pipeline tokenized a whole prompt.</summary>
    private sealed class CountingTokenCounter : IPromptTokenCounter
    {
        private int _prompts;

        public TokenCounter Inner { get; set; } = null!;

        public int PromptCounts => Volatile.Read(ref _prompts);

        public void Reset() => Interlocked.Exchange(ref _prompts, 0);

        public int CountPrompt(ChatRequest request)
        {
            Interlocked.Increment(ref _prompts);
            return Inner.CountChat(request.Messages, request.Tools);
        }

        public int PromptUpperBound(ChatRequest request) => TokenCounter.UpperBoundChat(request.Messages, request.Tools);

        public int CountText(string text) => Inner.Count(text);
    }

    private static async Task<Db> CreateDbAsync(string database)
    {
        if (database == "postgres")
        {
            var pg = await PostgresTestDatabase.CreateAsync();
            return new Db(pg, pg.CreateFactory());
        }

        var sqlite = await SqliteTestDatabase.CreateAsync();
        return new Db(sqlite, sqlite.CreateFactory());
    }

    private sealed record Db(IAsyncDisposable Inner, KeystoneDbFactory Factory) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Inner.DisposeAsync();
    }
}
