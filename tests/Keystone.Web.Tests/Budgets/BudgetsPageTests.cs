using Keystone.Web.Platform;
using Bunit;
using Keystone.Data.Calls;
using Keystone.Gateway;
using Keystone.Gateway.Credentials;
using Keystone.Web.Features.Budgets;
using Keystone.Web.Features.Usage;
using Keystone.Web.Tests.Api;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Keystone.Web.Tests.Budgets;

/// <summary>
/// The /budgets page over the real app (SQLite, the gateway's budgets and provider-key store, audit), signed in as
/// Initech's admin. The page's own clock is fake so its spend refresh can be driven; the app keeps real time.
/// </summary>
public sealed class BudgetsPageTests : KeystoneComponentTest, IClassFixture<ApiFixture>, IAsyncLifetime
{
    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly ApiFixture _fixture;
    private readonly AsyncServiceScope _scope;
    private readonly FakeTimeProvider _pageClock = new(DateTimeOffset.UtcNow);

    public BudgetsPageTests(ApiFixture fixture)
    {
        _fixture = fixture;
        _scope = AddPageServices(Services, fixture.App, _pageClock);
    }

    /// <summary>What the page needs from <paramref name="app"/>, signed in as Initech's admin; the caller disposes the scope.</summary>
    internal static AsyncServiceScope AddPageServices(IServiceCollection services, Keystone.Testing.KeystoneAppFactory app, TimeProvider pageClock)
    {
        var scope = app.Services.CreateAsyncScope();
        var tenant = scope.ServiceProvider.GetRequiredService<TenantContext>();
        tenant.SetUser(new(new System.Security.Claims.ClaimsIdentity(
        [
            new(System.Security.Claims.ClaimTypes.NameIdentifier, "test-initech-admin"),
            new(System.Security.Claims.ClaimTypes.Role, Keystone.Data.Identity.Roles.TenantAdmin),
            new(KeystoneClaims.TenantId, DemoData.InitechId.ToString()),
        ], "test")));
        services.AddSingleton(tenant);
        services.AddSingleton(scope.ServiceProvider.GetRequiredService<BudgetSettingsService>());
        services.AddSingleton(app.Services.GetRequiredService<Keystone.Gateway.Budgets.BudgetEvents>());
        services.AddSingleton(app.Services.GetRequiredService<IUnpricedCalls>());
        services.AddSingleton(pageClock);
        services.AddSingleton(Options.Create(new UsageOptions()));
        return scope;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    private IBudgetService BudgetService => _fixture.App.Services.GetRequiredService<IBudgetService>();

    private IRenderedComponent<BudgetsPage> RenderPage()
    {
        var page = Render<BudgetsPage>();
        page.WaitForElement("[data-test=cap-save]", Wait);
        return page;
    }

    [Fact]
    public async Task SetFeatureCap_ShowsItWithItsLimitSavesAndAuditsThenRemoveDropsIt()
    {
        var dialogs = Render<MudDialogProvider>(); // Removing a cap asks first (issue 21).
        var page = RenderPage();

        page.Find("[data-test=cap-scope-feature]").Click();
        page.Find("[data-test=cap-key]").Change("bp-search");
        page.Find("[data-test=cap-period-day]").Click();
        page.Find("[data-test=cap-limit]").Change("2.5");
        page.Find("[data-test=cap-save]").Click();

        page.WaitForAssertion(() => Assert.Equal("$2.50", page.Find("[data-test=limit-feature-bp-search-day]").TextContent.Trim()), Wait);
        Assert.Contains("feature bp-search", page.Find("[data-test=caps-table]").TextContent, StringComparison.Ordinal);
        var cap = Assert.Single((await BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None)).Caps, c => c.Key == "bp-search");
        Assert.Equal((BudgetScope.Feature, BudgetPeriod.Day, 2_500_000L), (cap.Scope, cap.Period, cap.LimitMicros));
        await using (var db = _fixture.App.CreateSystemDb())
        {
            Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "budgets.cap.set" && a.TenantId == DemoData.InitechId && a.MetadataJson!.Contains("bp-search")));
        }

        page.Find("[data-test=remove-feature-bp-search-day]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("no longer stopped", dialogs.Markup, StringComparison.Ordinal), Wait);
        dialogs.FindAll(".mud-dialog button").Single(b => b.TextContent.Contains("Remove cap", StringComparison.Ordinal)).Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-test=remove-feature-bp-search-day]")), Wait);
        Assert.DoesNotContain((await BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None)).Caps, c => c.Key == "bp-search");
    }

    [Theory]
    [InlineData("Feature", "", "3", "Name the feature")]
    [InlineData("Feature", "has space", "3", "no call could meet this cap")]
    [InlineData("Tenant", "", "0", "more than $0")]
    [InlineData("User", "", "1", "Name the user")]
    public async Task SetCap_IncompleteForm_SaysWhatIsMissingAndSavesNothing(string scope, string key, string limit, string message)
    {
        var before = (await BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None)).Caps.Count;
        var page = RenderPage();

        page.Find($"[data-test=cap-scope-{scope.ToLowerInvariant()}]").Click();
        if (scope != "Tenant")
        {
            page.Find("[data-test=cap-key]").Change(key);
        }

        page.Find("[data-test=cap-limit]").Change(limit);
        page.Find("[data-test=cap-save]").Click();

        page.WaitForAssertion(() => Assert.Contains(message, page.Find("[data-test=cap-error]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(before, (await BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None)).Caps.Count);
    }

    [Fact]
    public async Task SavePolicy_ThresholdsAndDegrade_AreSavedAndBadThresholdsAreRefusedInPlainWords()
    {
        var page = RenderPage();

        // "Degrade" says where it sends calls, from the platform's configuration (the defaults here).
        Assert.Contains("smart → fast", page.Find("[data-test=policy-degrade]").ParentElement!.ParentElement!.TextContent, StringComparison.Ordinal);
        page.Find("[data-test=policy-thresholds]").Change("90, 50%");
        page.Find("[data-test=policy-degrade]").Click();
        page.Find("[data-test=policy-save]").Click();
        // The read runs off the renderer's synchronization context (Task.Run): the assertion runs on it, and on SQLite the
        // read waits for the budget ledger's own thread to write the counters (decision 59), whose answer resumes on the
        // captured context; blocking that context with .Result deadlocked the test run.
        page.WaitForAssertion(() => Assert.Equal(BudgetAction.Degrade,
            Task.Run(() => BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None)).GetAwaiter().GetResult().ActionAtLimit), Wait);

        var saved = await BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None);
        Assert.Equal([50, 90], saved.SoftThresholdsPercent);

        // The page reloads after a save and its buttons are disabled until then: a click before would be ignored.
        page.WaitForAssertion(() => Assert.False(page.Find("[data-test=policy-save]").HasAttribute("disabled")), Wait);
        page.Find("[data-test=policy-thresholds]").Change("50, lots");
        page.Find("[data-test=policy-save]").Click();
        page.WaitForAssertion(() => Assert.Contains("'lots' is not a percentage", page.Find("[data-test=policy-error]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal([50, 90], (await BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None)).SoftThresholdsPercent);

        // Leave the demo tenant's policy as the other tests expect it.
        await BudgetService.SetAsync(DemoData.InitechId, [], [50, 80, 100], BudgetAction.Block, CancellationToken.None);
    }

    [Fact]
    public async Task ProviderKey_IsStoredEncryptedShownMaskedNeverEchoedAndRemovable()
    {
        const string secret = "sk-initech-test-0123456789wxyz";
        var page = RenderPage();

        page.Find("[data-test=byok-key]").Change(secret);
        page.Find("[data-test=byok-save]").Click();

        page.WaitForAssertion(() => Assert.Equal("…wxyz", page.Find("[data-test=byok-masked-sim]").TextContent.Trim()), Wait);
        Assert.DoesNotContain(secret, page.Markup, StringComparison.Ordinal);
        var store = _fixture.App.Services.GetRequiredService<ProviderCredentialStore>();
        Assert.Equal(secret, (await store.GetForCallAsync(DemoData.InitechId, "sim", CancellationToken.None))?.ApiKey);
        await using (var db = _fixture.App.CreateSystemDb())
        {
            var row = await db.ProviderCredentials.SingleAsync(c => c.TenantId == DemoData.InitechId && c.Provider == "sim");
            Assert.DoesNotContain(secret, row.ProtectedSecret, StringComparison.Ordinal);
            var audit = await db.AuditLog.SingleAsync(a => a.Action == "byok.set" && a.TenantId == DemoData.InitechId);
            Assert.DoesNotContain("0123456789", audit.MetadataJson ?? "", StringComparison.Ordinal);
        }

        page.Find("[data-test=byok-remove-sim]").Click();

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=byok-empty]")), Wait);
        Assert.Null(await store.GetForCallAsync(DemoData.InitechId, "sim", CancellationToken.None));
    }

    [Fact]
    public void ProviderKey_TooShort_IsRefusedAndNothingIsStored()
    {
        var page = RenderPage();

        page.Find("[data-test=byok-key]").Change("short");
        page.Find("[data-test=byok-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("Paste the whole key", page.Find("[data-test=byok-error]").TextContent, StringComparison.Ordinal), Wait);
        Assert.NotNull(page.Find("[data-test=byok-empty]"));
    }

    [Fact]
    public async Task Spend_AfterACall_ShowsOnTheNextRefreshWithoutAReload()
    {
        await BudgetService.SetAsync(DemoData.InitechId, [new BudgetCapInput(BudgetScope.Feature, "bp-live", BudgetPeriod.Month, 5_000_000)], null, null,
            CancellationToken.None);
        var page = RenderPage();
        Assert.Equal("$0.00", page.Find("[data-test=spent-feature-bp-live-month]").TextContent.Trim());

        var gateway = _fixture.App.Services.GetRequiredService<ILlmGateway>();
        var result = await gateway.CompleteAsync(new ChatRequest { Model = "fast", Messages = [new ChatMessage("user", "Hello there")] },
            new CallContext { TenantId = DemoData.InitechId, Feature = "bp-live" }, CancellationToken.None);
        Assert.Equal(CallStatus.Ok, result.Outcome.Status);
        _pageClock.Advance(TimeSpan.FromSeconds(new UsageOptions().UsageRefreshSeconds));

        page.WaitForAssertion(() => Assert.NotEqual("$0.00", page.Find("[data-test=spent-feature-bp-live-month]").TextContent.Trim()), Wait);
    }

    [Fact]
    public async Task ThresholdCrossed_ShowsAsAnAlertAtOnceWithoutARefresh()
    {
        await BudgetService.SetAsync(DemoData.InitechId, [new BudgetCapInput(BudgetScope.Feature, "bp-alert", BudgetPeriod.Month, 1_000)], [1],
            null, CancellationToken.None);
        try
        {
            var page = RenderPage();
            Assert.Empty(page.FindAll("[data-test=alert]"));

            // One call costs more than 1 % of $0.001 (10 micro-USD): its settlement crosses the threshold.
            var gateway = _fixture.App.Services.GetRequiredService<ILlmGateway>();
            var result = await gateway.CompleteAsync(
                new ChatRequest { Model = "fast", MaxTokens = 64, Messages = [new ChatMessage("user", "Tell me about budgets")] },
                new CallContext { TenantId = DemoData.InitechId, Feature = "bp-alert" }, CancellationToken.None);
            Assert.True(result.Outcome.CostMicros > 10, $"the call cost {result.Outcome.CostMicros} micro-USD");

            // The page's clock never moves: only the gateway's event can bring the alert in.
            page.WaitForAssertion(() => Assert.Contains("1% of feature bp-alert's monthly cap", page.Find("[data-test=alerts]").TextContent,
                StringComparison.Ordinal), Wait);
        }
        finally
        {
            await BudgetService.SetAsync(DemoData.InitechId, [], [50, 80, 100], BudgetAction.Block, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Render_CallsOnAModelWithoutAPriceThisMonth_FlagsThemNamingTheModel()
    {
        var page = RenderPage();
        Assert.Empty(page.FindAll("[data-test=unpriced-calls]"));
        await using (var db = _fixture.App.CreateSystemDb())
        {
            for (var i = 0; i < 2; i++)
            {
                db.Calls.Add(new LlmCall
                {
                    Id = Guid.NewGuid(), TraceId = Guid.NewGuid(), TenantId = DemoData.InitechId, Feature = "chat", Alias = "mystery",
                    Provider = "up", Model = "bp-unpriced-model", InputTokens = 12, OutputTokens = 30, CostMicros = 2_500,
                    CostStatus = CostStatus.Fallback, BilledTo = BilledTo.Platform, Attempts = 1, Status = CallStatus.Ok,
                    CreatedUtc = DateTime.UtcNow,
                });
            }

            await db.SaveChangesAsync();
        }

        // The page's next refresh reads them.
        _pageClock.Advance(TimeSpan.FromSeconds(new UsageOptions().UsageRefreshSeconds + 1));

        page.WaitForAssertion(() => Assert.Contains("2 calls were priced at the fallback price because the model up/bp-unpriced-model has no price",
            System.Text.RegularExpressions.Regex.Replace(page.Find("[data-test=unpriced-calls]").TextContent, @"\s+", " "), StringComparison.Ordinal), Wait);
        Assert.Contains("$0.005", page.Find("[data-test=unpriced-calls]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetUserRate_ShowsWhatAppliesAndWhereFromSavesAuditsRefusesOutOfBoundsAndClearsBack()
    {
        var page = RenderPage();
        Assert.Contains("600 requests a minute: the platform's default", Text(page, "user-rate-now"), StringComparison.Ordinal);

        page.Find("[data-test=user-rate]").Change("120");
        page.Find("[data-test=user-rate-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("120 requests a minute: this tenant's own limit", Text(page, "user-rate-now"), StringComparison.Ordinal), Wait);
        Assert.Equal(120, (await BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None)).UserRequestsPerMinute);
        await using (var db = _fixture.App.CreateSystemDb())
        {
            Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "budgets.user_rate" && a.TenantId == DemoData.InitechId && a.MetadataJson!.Contains("120")));
        }

        foreach (var bad in new[] { "0", "2000000" })
        {
            page.Find("[data-test=user-rate]").Change(bad);
            page.Find("[data-test=user-rate-save]").Click();
            page.WaitForAssertion(() => Assert.Contains("from 1 to 1,000,000 requests a minute", page.Find("[data-test=user-rate-error]").TextContent, StringComparison.Ordinal), Wait);
            Assert.Equal(120, (await BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None)).UserRequestsPerMinute);
        }

        page.Find("[data-test=user-rate]").Change("");
        page.Find("[data-test=user-rate-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("600 requests a minute: the platform's default", Text(page, "user-rate-now"), StringComparison.Ordinal), Wait);
        Assert.Null((await BudgetService.GetAsync(DemoData.InitechId, CancellationToken.None)).UserRequestsPerMinute);
    }

    private static string Text(IRenderedComponent<BudgetsPage> page, string test)
        => System.Text.RegularExpressions.Regex.Replace(page.Find($"[data-test={test}]").TextContent, @"\s+", " ");
}
