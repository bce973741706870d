using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>
/// The semantic cache on SQLite (and on PostgreSQL with pgvector, below): chat answers counted at a real loopback
/// upstream, questions embedded by the simulated provider (a hashed bag of words, so sharing words means a high
/// cosine similarity: five of six words shared ≈ 0.91, three of five ≈ 0.6).
/// </summary>
public sealed class SemanticCacheTests() : UpstreamGatewayTest(Settings)
{
    private const string Question = "What is your refund policy?";
    private const string Paraphrase = "What is your refund policy please?";

    internal static Dictionary<string, string?> Settings(MockOpenAiServer upstream) => new(GatewayHarness.InstantSim)
    {
        ["Gateway:Providers:up:Kind"] = "OpenAI",
        ["Gateway:Providers:up:BaseUrl"] = upstream.BaseUrl.ToString(),
        ["Gateway:Aliases:chat:0"] = "up/gpt-4o-mini",
        ["Gateway:Features:faq:SemanticCache"] = "true",
        ["Gateway:Features:faq:SemanticThreshold"] = "0.85",
    };

    private static CallContext Faq(Guid tenant) => new() { TenantId = tenant, Feature = "faq" };

    internal static ChatRequest Ask(string text, string system = "You answer questions about Acme's shop.") => new()
    {
        Model = "chat",
        Messages = [new ChatMessage("system", system), new ChatMessage("user", text)],
    };

    [Fact]
    public async Task Complete_ParaphraseInOptedInFeature_IsServedFromSemanticCacheWithSavedCostAndEmbeddingsCharged()
    {
        var first = await Harness.Gateway.CompleteAsync(Ask(Question), Faq(Acme), CancellationToken.None);
        var second = await Harness.Gateway.CompleteAsync(Ask(Paraphrase), Faq(Acme), CancellationToken.None);
        await Harness.FlushAsync();

        Assert.Single(Upstream.Requests);
        Assert.Equal(CacheStatus.None, first.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.Semantic, second.Outcome.CacheStatus);
        Assert.InRange(second.Outcome.CacheSimilarity!.Value, 0.85, 0.99);
        Assert.Equal(first.Text, second.Text);
        Assert.Equal(0, second.Outcome.CostMicros);
        Assert.Equal(first.Outcome.CostMicros, second.Outcome.SavedCostMicros);

        await using var read = Db.CreateFactory().ForTenant(Acme);
        var calls = await read.Calls.AsNoTracking().ToListAsync();
        var hit = calls.Single(c => c.Id == second.Outcome.CallId);
        Assert.Equal(CacheStatus.Semantic, hit.CacheStatus);
        Assert.Equal(first.Outcome.CostMicros, hit.SavedCostMicros);
        // The hit names the call whose answer it served and how close the question was (the trace page shows both).
        Assert.Equal(first.Outcome.CallId, hit.CacheSourceCallId);
        Assert.Equal(second.Outcome.CacheSimilarity, hit.CacheSimilarity);
        Assert.Null(calls.Single(c => c.Id == first.Outcome.CallId).CacheSourceCallId);
        // Each lookup embedded its question: a recorded, priced call of the same feature (the lookup is not free;
        // a few tokens of an embedding model round to $0 here, so the priced tokens are what is checked).
        var embeddings = calls.Where(c => c.Alias == "embed").ToList();
        Assert.Equal(2, embeddings.Count);
        Assert.All(embeddings, e => Assert.Equal("faq", e.Feature));
        Assert.All(embeddings, e => Assert.True(e.InputTokens > 0));
        Assert.All(embeddings, e => Assert.Equal(CostStatus.Exact, e.CostStatus));
        Assert.All(embeddings, e => Assert.Equal(CallStatus.Ok, e.Status));
    }

    [Fact]
    public async Task Complete_DifferentQuestion_IsAnsweredByTheModel()
    {
        await Harness.Gateway.CompleteAsync(Ask(Question), Faq(Acme), CancellationToken.None);

        var other = await Harness.Gateway.CompleteAsync(Ask("How do I reset my password?"), Faq(Acme), CancellationToken.None);

        Assert.Equal(CacheStatus.None, other.Outcome.CacheStatus);
        Assert.Equal(2, Upstream.Requests.Count);
    }

    [Fact]
    public async Task Complete_SameQuestionOtherTenant_IsNeverServedTheFirstTenantsAnswer()
    {
        await Harness.Gateway.CompleteAsync(Ask(Question), Faq(Acme), CancellationToken.None);

        var other = await Harness.Gateway.CompleteAsync(Ask(Question), Faq(Globex), CancellationToken.None);
        var again = await Harness.Gateway.CompleteAsync(Ask(Question), Faq(Globex), CancellationToken.None);

        Assert.Equal(CacheStatus.None, other.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.Semantic, again.Outcome.CacheStatus);
        Assert.Equal(2, Upstream.Requests.Count);
    }

    [Fact]
    public async Task Complete_SameQuestionAfterOtherSystemPrompt_IsAnsweredByTheModel()
    {
        await Harness.Gateway.CompleteAsync(Ask(Question), Faq(Acme), CancellationToken.None);

        var other = await Harness.Gateway.CompleteAsync(Ask(Question, system: "You answer questions about Globex's bank."), Faq(Acme),
            CancellationToken.None);

        Assert.Equal(CacheStatus.None, other.Outcome.CacheStatus);
        Assert.Equal(2, Upstream.Requests.Count);
    }

    [Fact]
    public async Task Complete_FeatureNotOptedIn_NeitherEmbedsNorServesByMeaning()
    {
        var context = new CallContext { TenantId = Acme, Feature = "chat" };
        await Harness.Gateway.CompleteAsync(Ask(Question), context, CancellationToken.None);

        var second = await Harness.Gateway.CompleteAsync(Ask(Question), context, CancellationToken.None);
        await Harness.FlushAsync();

        Assert.Equal(CacheStatus.None, second.Outcome.CacheStatus);
        Assert.Equal(2, Upstream.Requests.Count);
        await using var read = Db.CreateFactory().ForTenant(Acme);
        Assert.Equal(0, await read.Calls.CountAsync(c => c.Alias == "embed"));
    }

    [Fact]
    public async Task Complete_CallerTurnsCacheOffOrSendsTools_IsAnsweredByTheModel()
    {
        await Harness.Gateway.CompleteAsync(Ask(Question), Faq(Acme), CancellationToken.None);

        var off = await Harness.Gateway.CompleteAsync(Ask(Question) with { Cache = false }, Faq(Acme), CancellationToken.None);
        var tools = await Harness.Gateway.CompleteAsync(Ask(Question) with { Tools = [new ToolDefinition("lookup", null, null)] }, Faq(Acme),
            CancellationToken.None);

        Assert.Equal(CacheStatus.None, off.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.None, tools.Outcome.CacheStatus);
        Assert.Equal(3, Upstream.Requests.Count);
    }

    [Fact]
    public async Task Stream_Paraphrase_IsReplayedFromSemanticCacheWithItsSimilarity()
    {
        var first = await Harness.Gateway.CompleteAsync(Ask(Question), Faq(Acme), CancellationToken.None);

        var events = await Harness.StreamAllAsync(Ask(Paraphrase), Faq(Acme));

        Assert.Single(Upstream.Requests);
        var started = Assert.IsType<StreamStarted>(events[0]);
        Assert.Equal(CacheStatus.Semantic, started.CacheStatus);
        Assert.InRange(started.CacheSimilarity!.Value, 0.85, 0.99);
        Assert.Equal(first.Text, string.Concat(events.OfType<TextDelta>().Select(d => d.Text)));
    }

    [Fact]
    public async Task Stream_AnsweredByTheModel_IsStoredForTheNextParaphrase()
    {
        var streamed = await Harness.StreamAllAsync(Ask(Question), Faq(Acme));

        var second = await Harness.Gateway.CompleteAsync(Ask(Paraphrase), Faq(Acme), CancellationToken.None);

        Assert.Equal(CacheStatus.None, Assert.IsType<StreamStarted>(streamed[0]).CacheStatus);
        Assert.Equal(CacheStatus.Semantic, second.Outcome.CacheStatus);
        Assert.Equal(string.Concat(streamed.OfType<TextDelta>().Select(d => d.Text)), second.Text);
        Assert.Single(Upstream.Requests);
    }

    [Fact]
    public async Task Complete_EmbeddingProviderDown_CallIsStillAnsweredByTheModel()
    {
        var settings = Settings(Upstream);
        settings["Gateway:Providers:down:Kind"] = "OpenAI";
        settings["Gateway:Providers:down:BaseUrl"] = "http://127.0.0.1:9/v1/";
        settings["Gateway:Aliases:broken-embed:0"] = "down/text-embedding-3-small";
        settings["Gateway:SemanticCacheAlias"] = "broken-embed";
        await using var gateway = await GatewayHarness.CreateAsync(Db.CreateFactory(), settings);

        var first = await gateway.Gateway.CompleteAsync(Ask(Question), Faq(Acme), CancellationToken.None);
        var second = await gateway.Gateway.CompleteAsync(Ask(Question), Faq(Acme), CancellationToken.None);

        Assert.Equal(CallStatus.Ok, first.Outcome.Status);
        Assert.Equal(CacheStatus.None, second.Outcome.CacheStatus);
        Assert.Equal(2, Upstream.Requests.Count);
    }

    [Theory]
    [InlineData("Gateway:Features:faq:SemanticThreshold", "0.3", "Gateway:Features:faq:SemanticThreshold")]
    [InlineData("Gateway:Features:faq:SemanticThreshold", "1.5", "Gateway:Features:faq:SemanticThreshold")]
    [InlineData("Gateway:SemanticCacheAlias", "no-such-alias", "Gateway:SemanticCacheAlias")]
    public async Task Options_BadSemanticSetting_FailsNamingTheSetting(string key, string value, string named)
    {
        var settings = Settings(Upstream);
        settings[key] = value;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);
        services.AddKeystoneGateway(configuration);
        await using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<GatewayOptions>>().Value);

        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cosine_AgreesWithTheDefinitionAndNeverMatchesDegenerateVectors()
    {
        var random = new Random(7);
        var a = Enumerable.Range(0, 300).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = Enumerable.Range(0, 300).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }

        Assert.Equal(dot / Math.Sqrt(na * nb), Caching.SemanticCache.Cosine(a, b), tolerance: 1e-5);
        Assert.Equal(1, Caching.SemanticCache.Cosine(a, a), tolerance: 1e-6);
        Assert.Equal(-1, Caching.SemanticCache.Cosine(a, [.. a.Select(x => -x)]), tolerance: 1e-6);
        Assert.Equal(0, Caching.SemanticCache.Cosine(a, b.AsSpan(0, 299)));
        Assert.Equal(0, Caching.SemanticCache.Cosine([], []));
        Assert.Equal(0, Caching.SemanticCache.Cosine(a, new float[300]));
    }

    [Fact]
    public async Task Complete_OnPostgresWithPgvector_ParaphraseHitsAndOtherTenantMisses()
    {
        await using var pg = await PostgresTestDatabase.CreateAsync();
        var factory = pg.CreateFactory();
        var acme = await GatewayHarness.CreateTenantAsync(factory, "acme");
        var globex = await GatewayHarness.CreateTenantAsync(factory, "globex");
        await using var gateway = await GatewayHarness.CreateAsync(factory, Settings(Upstream));

        var first = await gateway.Gateway.CompleteAsync(Ask(Question), Faq(acme), CancellationToken.None);
        var paraphrase = await gateway.Gateway.CompleteAsync(Ask(Paraphrase), Faq(acme), CancellationToken.None);
        var different = await gateway.Gateway.CompleteAsync(Ask("How do I reset my password?"), Faq(acme), CancellationToken.None);
        var otherTenant = await gateway.Gateway.CompleteAsync(Ask(Question), Faq(globex), CancellationToken.None);

        Assert.Equal(CacheStatus.Semantic, paraphrase.Outcome.CacheStatus);
        Assert.Equal(first.Text, paraphrase.Text);
        // Same words, same vectors on both databases: pgvector's cosine distance agrees with the in-process one.
        Assert.InRange(paraphrase.Outcome.CacheSimilarity!.Value, 0.85, 0.99);
        Assert.Equal(CacheStatus.None, different.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.None, otherTenant.Outcome.CacheStatus);
        Assert.Equal(3, Upstream.Requests.Count);
        await gateway.FlushAsync();
        await using var read = factory.ForTenant(acme);
        Assert.Equal(2, await read.SemanticCache.CountAsync());
        var hit = await read.Calls.AsNoTracking().SingleAsync(c => c.Id == paraphrase.Outcome.CallId);
        Assert.Equal(first.Outcome.CallId, hit.CacheSourceCallId);
        Assert.Equal(paraphrase.Outcome.CacheSimilarity, hit.CacheSimilarity);

        // The exact cache's upsert (raw SQL) keeps the answering call on PostgreSQL too.
        var exactQuestion = Ask("Do you ship to Canada?") with { Temperature = 0 };
        var answered = await gateway.Gateway.CompleteAsync(exactQuestion, Faq(acme), CancellationToken.None);
        var repeated = await gateway.Gateway.CompleteAsync(exactQuestion, Faq(acme), CancellationToken.None);
        await gateway.FlushAsync();
        Assert.Equal(CacheStatus.Exact, repeated.Outcome.CacheStatus);
        Assert.Equal(answered.Outcome.CallId, (await read.Calls.AsNoTracking().SingleAsync(c => c.Id == repeated.Outcome.CallId)).CacheSourceCallId);
    }
}
