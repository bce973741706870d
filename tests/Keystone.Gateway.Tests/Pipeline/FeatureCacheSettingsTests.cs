using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>
/// A tenant's own cache settings per feature (the caching page) replace the platform's for that tenant's calls, take
/// effect on the next call and never reach another tenant. Answers are counted at a real loopback upstream.
/// </summary>
public sealed class FeatureCacheSettingsTests() : UpstreamGatewayTest(Settings)
{
    private const string Question = "What is your refund policy?";
    private const string Paraphrase = "What is your refund policy please?";

    /// <summary>No feature has cache settings in configuration but <c>platform-faq</c>, which caches every request.</summary>
    private static Dictionary<string, string?> Settings(MockOpenAiServer upstream) => new(GatewayHarness.InstantSim)
    {
        ["Gateway:Providers:up:Kind"] = "OpenAI",
        ["Gateway:Providers:up:BaseUrl"] = upstream.BaseUrl.ToString(),
        ["Gateway:Aliases:chat:0"] = "up/gpt-4o-mini",
        ["Gateway:Features:platform-faq:Cache"] = "true",
    };

    private ICacheSettingsService Service => Harness.Services.GetRequiredService<ICacheSettingsService>();

    private static CallContext In(Guid tenant, string feature) => new() { TenantId = tenant, Feature = feature };

    private static ChatRequest Ask(string text, float? temperature = 0.7f) => new()
    {
        Model = "chat",
        Temperature = temperature,
        Messages = [new ChatMessage("system", "You answer questions about the shop."), new ChatMessage("user", text)],
    };

    private static FeatureCacheSettings Set(string feature, bool every = false, bool zero = true, bool semantic = false, double threshold = 0.95)
        => new(feature, every, zero, semantic, threshold, true, null);

    private Task<ChatResult> AskAsync(Guid tenant, string feature, string text, float? temperature = 0.7f)
        => Harness.Gateway.CompleteAsync(Ask(text, temperature), In(tenant, feature), CancellationToken.None);

    [Fact]
    public async Task TenantTurnsOnSimilarQuestions_ItsParaphraseIsServedAndTheOtherTenantIsUntouched()
    {
        await Service.SetAsync(Acme, Set("support", semantic: true, threshold: 0.85), "user-ada", CancellationToken.None);

        await AskAsync(Acme, "support", Question);
        var paraphrase = await AskAsync(Acme, "support", Paraphrase);
        await AskAsync(Globex, "support", Question);
        var globexParaphrase = await AskAsync(Globex, "support", Paraphrase);

        Assert.Equal(CacheStatus.Semantic, paraphrase.Outcome.CacheStatus);
        Assert.InRange(paraphrase.Outcome.CacheSimilarity!.Value, 0.85, 0.99);
        Assert.Equal(CacheStatus.None, globexParaphrase.Outcome.CacheStatus);
        Assert.Equal(3, Upstream.Requests.Count);
    }

    [Fact]
    public async Task TenantCachesEveryRequest_ThenResets_TheChangeHoldsFromTheNextCall()
    {
        // Settings are cached per tenant for a few seconds; a save drops that snapshot so the next call sees it.
        var before = await AskAsync(Acme, "search", Question);
        await AskAsync(Acme, "search", Question);
        await Service.SetAsync(Acme, Set("search", every: true), "user-ada", CancellationToken.None);

        var stored = await AskAsync(Acme, "search", Question);
        var hit = await AskAsync(Acme, "search", Question);
        Assert.True(await Service.ResetAsync(Acme, "SEARCH", CancellationToken.None));
        var afterReset = await AskAsync(Acme, "search", Question);

        Assert.Equal(CacheStatus.None, before.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.None, stored.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.Exact, hit.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.None, afterReset.Outcome.CacheStatus);
        Assert.Equal(4, Upstream.Requests.Count);
        Assert.False(await Service.ResetAsync(Acme, "search", CancellationToken.None));
    }

    [Fact]
    public async Task TenantTurnsOffAPlatformCache_OnlyItsOwnCallsGoToTheModelEveryTime()
    {
        await Service.SetAsync(Acme, Set("platform-faq", every: false, zero: false), null, CancellationToken.None);

        await AskAsync(Acme, "platform-faq", Question, temperature: 0);
        var acmeAgain = await AskAsync(Acme, "platform-faq", Question, temperature: 0);
        await AskAsync(Globex, "platform-faq", Question);
        var globexAgain = await AskAsync(Globex, "platform-faq", Question);

        Assert.Equal(CacheStatus.None, acmeAgain.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.Exact, globexAgain.Outcome.CacheStatus);
        Assert.Equal(3, Upstream.Requests.Count);
    }

    [Fact]
    public async Task List_MergesAskedFeaturesThePlatformsAndTheTenantsOwnCaseInsensitively()
    {
        await Service.SetAsync(Acme, Set("Support", semantic: true, threshold: 0.9), "user-ada", CancellationToken.None);
        await Service.SetAsync(Acme, Set("support", every: true, semantic: true, threshold: 0.91), "user-bob", CancellationToken.None);

        var acme = await Service.ListAsync(Acme, ["support", "search", ""], CancellationToken.None);
        var globex = await Service.ListAsync(Globex, [], CancellationToken.None);

        Assert.Equal(["platform-faq", "search", "Support"], acme.Select(s => s.Feature));
        var own = acme.Single(s => s.Feature == "Support");
        Assert.Equal((true, true, true, 0.91, true), (own.CacheEveryRequest, own.CacheAtTemperatureZero, own.SemanticCache, own.SemanticThreshold, own.IsTenantSetting));
        Assert.NotNull(own.UpdatedUtc);
        var platform = acme.Single(s => s.Feature == "platform-faq");
        Assert.Equal((true, false, null as DateTime?), (platform.CacheEveryRequest, platform.IsTenantSetting, platform.UpdatedUtc));
        Assert.Equal((false, true, false, 0.95), (acme[1].CacheEveryRequest, acme[1].CacheAtTemperatureZero, acme[1].SemanticCache, acme[1].SemanticThreshold));
        Assert.Equal(["platform-faq"], globex.Select(s => s.Feature));
        await using var db = Db.CreateFactory().ForTenant(Acme);
        var row = await db.FeatureCacheSettings.SingleAsync();
        Assert.Equal(("Support", "user-bob"), (row.Feature, row.UpdatedByUserId));
    }

    [Theory]
    [InlineData("", 0.9, "feature")]
    [InlineData("has space", 0.9, "feature")]
    [InlineData("support", 0.3, "semanticThreshold")]
    [InlineData("support", 1.01, "semanticThreshold")]
    [InlineData("support", double.NaN, "semanticThreshold")]
    public async Task Set_BadInput_IsRefusedNamingTheFieldAndSavesNothing(string feature, double threshold, string field)
    {
        var ex = await Assert.ThrowsAsync<CacheSettingsValidationException>(() =>
            Service.SetAsync(Acme, Set(feature, semantic: true, threshold: threshold), null, CancellationToken.None));

        Assert.Equal(field, ex.Field);
        await using var db = Db.CreateFactory().ForTenant(Acme);
        Assert.Equal(0, await db.FeatureCacheSettings.CountAsync());
    }

    [Fact]
    public async Task Set_SimilarQuestionsWithoutAnEmbeddingModel_IsRefusedInPlainWords()
    {
        var settings = Settings(Upstream);
        settings["Gateway:SemanticCacheAlias"] = "sim/sim-embed";
        await using var ok = await GatewayHarness.CreateAsync(Db.CreateFactory(), settings);
        settings["Gateway:SemanticCacheAlias"] = "no-such-alias";
        await using var without = await GatewayHarness.CreateAsync(Db.CreateFactory(), settings);

        await ok.Services.GetRequiredService<ICacheSettingsService>().SetAsync(Acme, Set("a", semantic: true), null, CancellationToken.None);
        var ex = await Assert.ThrowsAsync<CacheSettingsValidationException>(() => without.Services.GetRequiredService<ICacheSettingsService>()
            .SetAsync(Acme, Set("b", semantic: true), null, CancellationToken.None));
        await without.Services.GetRequiredService<ICacheSettingsService>().SetAsync(Acme, Set("c", every: true), null, CancellationToken.None);

        Assert.Equal("semanticCache", ex.Field);
        Assert.Contains("embedding model", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OnPostgres_TheTenantsSettingHoldsAndRowLevelSecurityHidesItFromOthers()
    {
        await using var pg = await PostgresTestDatabase.CreateAsync();
        var factory = pg.CreateFactory();
        var acme = await GatewayHarness.CreateTenantAsync(factory, "acme");
        var globex = await GatewayHarness.CreateTenantAsync(factory, "globex");
        await using var gateway = await GatewayHarness.CreateAsync(factory, Settings(Upstream));
        var service = gateway.Services.GetRequiredService<ICacheSettingsService>();
        await service.SetAsync(acme, Set("search", every: true), "user-ada", CancellationToken.None);

        await gateway.Gateway.CompleteAsync(Ask(Question), In(acme, "search"), CancellationToken.None);
        var hit = await gateway.Gateway.CompleteAsync(Ask(Question), In(acme, "search"), CancellationToken.None);
        await gateway.Gateway.CompleteAsync(Ask(Question), In(globex, "search"), CancellationToken.None);
        var globexAgain = await gateway.Gateway.CompleteAsync(Ask(Question), In(globex, "search"), CancellationToken.None);

        Assert.Equal(CacheStatus.Exact, hit.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.None, globexAgain.Outcome.CacheStatus);
        // The database itself keeps the row from a unit of work scoped to another tenant, even without a filter.
        await using var asGlobex = factory.ForTenant(globex);
        Assert.Equal(0, await asGlobex.FeatureCacheSettings.IgnoreQueryFilters().CountAsync());
        Assert.DoesNotContain(await service.ListAsync(globex, [], CancellationToken.None), s => s.IsTenantSetting);
    }
}
