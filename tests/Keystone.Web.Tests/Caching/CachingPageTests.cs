using Keystone.Web.Platform;
using Bunit;
using Keystone.Data.Rollups;
using Keystone.Gateway;
using Keystone.Web.Features.Caching;
using Keystone.Web.Tests.Api;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Caching;

/// <summary>The /caching page over the real app (SQLite, the gateway's cache settings, audit), signed in as Acme's admin.</summary>
public sealed class CachingPageTests : KeystoneComponentTest, IClassFixture<ApiFixture>, IAsyncLifetime
{
    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly ApiFixture _fixture;
    private readonly AsyncServiceScope _scope;
    private readonly string _feature = $"cp-{Guid.NewGuid():N}"[..16];

    public CachingPageTests(ApiFixture fixture)
    {
        _fixture = fixture;
        _scope = fixture.App.Services.CreateAsyncScope();
        var tenant = _scope.ServiceProvider.GetRequiredService<TenantContext>();
        tenant.SetUser(KeysTestPrincipals.AcmeAdmin());
        Services.AddSingleton(tenant);
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<CachingService>());
    }

    public async Task InitializeAsync()
    {
        // Today's rollup of a feature of this test's own: 10 calls, 4 from cache, $2.50 saved; and Globex's same label.
        await using var db = _fixture.App.CreateSystemDb();
        var today = DateTime.UtcNow.Date;
        db.UsageRollups.AddRange(
            new UsageRollup
            {
                TenantId = DemoData.AcmeId, Grain = RollupGrain.Day, BucketStartUtc = today, Feature = _feature, Alias = "fast",
                Provider = "sim", Model = "sim-fast", Calls = 10, CacheHits = 4, SavedCostMicros = 2_500_000, CostMicros = 600,
            },
            new UsageRollup
            {
                TenantId = DemoData.GlobexId, Grain = RollupGrain.Day, BucketStartUtc = today, Feature = _feature, Alias = "fast",
                Provider = "sim", Model = "sim-fast", Calls = 50, CacheHits = 50, SavedCostMicros = 90_000_000,
            });
        await db.SaveChangesAsync();
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    private string Slug => _feature;

    [Fact]
    public void Render_FeatureWithCacheHits_ShowsItsOwnTenantsHitsSavingsAndThePlatformDefault()
    {
        var page = Render<CachingPage>();

        page.WaitForElement($"[data-test=hits-{Slug}]", Wait);
        Assert.StartsWith("4", page.Find($"[data-test=hits-{Slug}]").TextContent.Trim(), StringComparison.Ordinal);
        Assert.Contains("(40%)", page.Find($"[data-test=hits-{Slug}]").TextContent, StringComparison.Ordinal);
        Assert.Equal("$2.50", page.Find($"[data-test=saved-{Slug}]").TextContent.Trim());
        Assert.Equal("platform default", page.Find($"[data-test=source-{Slug}]").TextContent.Trim());
        // The platform's configuration (ApiFixture: faq uses similar questions at 0.85) is listed and shown as such.
        Assert.Equal("true", page.Find("[data-test=semantic-faq]").GetAttribute("aria-checked"));
        Assert.Equal("0.85", page.Find("[data-test=threshold-faq]").GetAttribute("value"));
        Assert.Empty(page.FindAll($"[data-test=reset-{Slug}]"));
    }

    [Fact]
    public async Task ToggleEveryRepeat_SavesTheTenantsSettingAuditsItThenResetGoesBackToThePlatform()
    {
        var page = Render<CachingPage>();

        page.WaitForElement($"[data-test=every-{Slug}]", Wait).Change(true);

        page.WaitForAssertion(() => Assert.Equal("yours", page.Find($"[data-test=source-{Slug}]").TextContent.Trim()), Wait);
        await using (var db = _fixture.App.CreateSystemDb())
        {
            var row = await db.FeatureCacheSettings.SingleAsync(s => s.Feature == _feature);
            Assert.Equal((DemoData.AcmeId, true, true, false), (row.TenantId, row.Cache, row.CacheAtTemperatureZero, row.SemanticCache));
            Assert.Equal("test-acme-admin", row.UpdatedByUserId);
            var audit = await db.AuditLog.SingleAsync(a => a.Action == "cache.settings" && a.Target == $"feature:{_feature}");
            Assert.Contains("\"cacheEveryRequest\":true", audit.MetadataJson, StringComparison.Ordinal);
            Assert.Contains("\"source\":\"platform\"", audit.MetadataJson, StringComparison.Ordinal);
        }

        // With every repeat cached, the temperature-0 switch says nothing more: it is disabled.
        Assert.True(page.Find($"[data-test=zero-{Slug}]").HasAttribute("disabled"));

        page.Find($"[data-test=reset-{Slug}]").Click();

        page.WaitForAssertion(() => Assert.Equal("platform default", page.Find($"[data-test=source-{Slug}]").TextContent.Trim()), Wait);
        Assert.Equal("false", page.Find($"[data-test=every-{Slug}]").GetAttribute("aria-checked"));
        await using var after = _fixture.App.CreateSystemDb();
        Assert.False(await after.FeatureCacheSettings.AnyAsync(s => s.Feature == _feature));
        Assert.True(await after.AuditLog.AnyAsync(a => a.Action == "cache.settings.reset" && a.Target == $"feature:{_feature}"));
    }

    [Fact]
    public async Task SimilarQuestions_OnThenStricterThreshold_AreSavedAndTheGatewayReadsThem()
    {
        var page = Render<CachingPage>();

        page.WaitForElement($"[data-test=semantic-{Slug}]", Wait).Change(true);
        page.WaitForAssertion(() => Assert.False(page.Find($"[data-test=threshold-{Slug}]").HasAttribute("disabled")), Wait);
        page.Find($"[data-test=threshold-{Slug}]").Change("0.97");

        page.WaitForAssertion(() => Assert.Equal("0.97", page.Find($"[data-test=threshold-{Slug}]").GetAttribute("value")), Wait);
        var settings = _fixture.App.Services.GetRequiredService<ICacheSettingsService>();
        var saved = (await settings.ListAsync(DemoData.AcmeId, [], CancellationToken.None)).Single(s => s.Feature == _feature);
        Assert.Equal((true, 0.97, true), (saved.SemanticCache, saved.SemanticThreshold, saved.IsTenantSetting));
        var globex = (await settings.ListAsync(DemoData.GlobexId, [_feature], CancellationToken.None)).Single(s => s.Feature == _feature);
        Assert.False(globex.IsTenantSetting);
    }

    [Fact]
    public async Task AddFeature_BadNameIsRefusedInPlainWordsAndAGoodOneIsListedAsTheTenantsOwn()
    {
        var page = Render<CachingPage>();
        page.WaitForElement("[data-test=new-feature]", Wait).Change("has space");
        page.Find("[data-test=add-feature]").Click();

        page.WaitForAssertion(() => Assert.Contains("1–64 characters", page.Find("[data-test=caching-error]").TextContent, StringComparison.Ordinal), Wait);

        var name = $"new-{Guid.NewGuid():N}"[..12];
        page.Find("[data-test=new-feature]").Change(name);
        page.Find("[data-test=add-feature]").Click();

        page.WaitForAssertion(() => Assert.Equal("yours", page.Find($"[data-test=source-{name}]").TextContent.Trim()), Wait);
        Assert.Empty(page.FindAll("[data-test=caching-error]"));
        await using var db = _fixture.App.CreateSystemDb();
        Assert.False(await db.FeatureCacheSettings.AnyAsync(s => s.Feature == "has space"));
        var row = await db.FeatureCacheSettings.SingleAsync(s => s.Feature == name);
        Assert.Equal((false, true, false), (row.Cache, row.CacheAtTemperatureZero, row.SemanticCache));
    }
}
