using Keystone.Web.Platform.Http;
using Keystone.Web.Platform;
using Bunit;
using Keystone.Gateway;
using Keystone.Web.Features.Keys;
using Keystone.Web.Tests.Api;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Keys;

/// <summary>The /keys page over the real app's key service (SQLite, audit, budgets), signed in as Acme's admin.</summary>
public sealed class KeysPageTests : KeystoneComponentTest, IClassFixture<ApiFixture>, IAsyncLifetime
{
    private readonly ApiFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public KeysPageTests(ApiFixture fixture)
    {
        _fixture = fixture;
        _scope = fixture.App.Services.CreateAsyncScope();
        var tenant = _scope.ServiceProvider.GetRequiredService<TenantContext>();
        tenant.SetUser(KeysTestPrincipals.AcmeAdmin());
        Services.AddSingleton(tenant);
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<ApiKeyService>());
    }

    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private ApiKeyService Keys => _scope.ServiceProvider.GetRequiredService<ApiKeyService>();

    [Fact]
    public async Task EditLimits_NewRateAndCap_SavesAuditsAndShowsThem()
    {
        var created = await Keys.CreateAsync(new NewApiKey($"edit-{Guid.NewGuid():N}"[..20], [ApiKeyScopes.Chat], 60), CancellationToken.None);
        var page = Render<KeysPage>();
        page.WaitForElement($"[data-test=edit-{created.Key.Prefix}]", Wait).Click();

        page.WaitForElement("[data-test=edit-rpm]", Wait).Change("240");
        page.Find("[data-test=edit-cap]").Change("2.5");
        page.Find("[data-test=edit-save]").Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-test=limits-editor]")), Wait);
        var limits = page.Find($"[data-test=limits-{created.Key.Prefix}]").TextContent;
        Assert.Contains("240/min", limits, StringComparison.Ordinal);
        Assert.Contains("cap $2.50/month", limits, StringComparison.Ordinal);
        await using var db = _fixture.App.CreateSystemDb();
        Assert.Equal(240, (await db.ApiKeys.SingleAsync(k => k.Id == created.Key.Id)).RequestsPerMinute);
        var row = Assert.Single(await Keys.ListAsync(CancellationToken.None), k => k.Id == created.Key.Id);
        var cap = Assert.Single(row.Caps);
        Assert.Equal(2_500_000, cap.LimitMicros);
        Assert.Equal(BudgetPeriod.Month, cap.Period);
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "apikey.limits" && a.Target == $"apikey:{created.Key.Id}"));
    }

    [Fact]
    public async Task List_KeyWithCallsThisMonthAndBefore_ShowsOnlyThisMonthsCallsAndCost()
    {
        var created = await Keys.CreateAsync(new NewApiKey($"spend-{Guid.NewGuid():N}"[..20], [ApiKeyScopes.Chat], null), CancellationToken.None);
        var now = DateTime.UtcNow;
        await using (var db = _fixture.App.CreateSystemDb())
        {
            foreach (var (when, cost) in new[] { (now, 1_250_000L), (now, 250_000L), (now.AddDays(-40), 9_000_000L) })
            {
                var (call, _) = Traces.TraceTestData.Call(ApiFixture.Acme, when, configure: c =>
                {
                    c.ApiKeyId = created.Key.Id;
                    c.CostMicros = cost;
                });
                db.Calls.Add(call);
            }

            await db.SaveChangesAsync();
        }

        var page = Render<KeysPage>();

        var month = page.WaitForElement($"[data-test=month-{created.Key.Prefix}]", Wait).TextContent;
        Assert.Equal("this month: 2 calls, $1.50", month.Trim());
        var row = Assert.Single(await Keys.ListAsync(CancellationToken.None), k => k.Id == created.Key.Id);
        Assert.Equal(new ApiKeyMonthUsage(2, 1_500_000), row.ThisMonth);
    }

    [Fact]
    public async Task EditLimits_ClearRateAndCap_FallsBackToPlanDefaultAndRemovesTheCap()
    {
        var created = await Keys.CreateAsync(new NewApiKey($"clear-{Guid.NewGuid():N}"[..20], [ApiKeyScopes.Chat], 60, 1_000_000, BudgetPeriod.Day), CancellationToken.None);
        var page = Render<KeysPage>();
        page.WaitForElement($"[data-test=edit-{created.Key.Prefix}]", Wait).Click();
        Assert.Equal("60", page.WaitForElement("[data-test=edit-rpm]", Wait).GetAttribute("value"));

        page.WaitForElement("[data-test=edit-rpm]", Wait).Change("");
        page.Find("[data-test=edit-cap]").Change("");
        page.Find("[data-test=edit-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("plan default", page.Find($"[data-test=limits-{created.Key.Prefix}]").TextContent, StringComparison.Ordinal), Wait);
        var row = Assert.Single(await Keys.ListAsync(CancellationToken.None), k => k.Id == created.Key.Id);
        Assert.Null(row.RequestsPerMinute);
        Assert.Empty(row.Caps);
    }

    [Theory]
    [InlineData("0", "", "Requests per minute must be between")]
    [InlineData("2000000", "", "Requests per minute must be between")]
    [InlineData("", "0", "A spending cap must be more than $0")]
    public async Task EditLimits_InvalidValue_ShowsTheValidationMessageAndChangesNothing(string rpm, string capUsd, string message)
    {
        var created = await Keys.CreateAsync(new NewApiKey($"bad-{Guid.NewGuid():N}"[..20], [ApiKeyScopes.Chat], 60), CancellationToken.None);
        var page = Render<KeysPage>();
        page.WaitForElement($"[data-test=edit-{created.Key.Prefix}]", Wait).Click();

        page.WaitForElement("[data-test=edit-rpm]", Wait).Change(rpm);
        page.Find("[data-test=edit-cap]").Change(capUsd);
        page.Find("[data-test=edit-save]").Click();

        page.WaitForAssertion(() => Assert.Contains(message, page.Find("[data-test=edit-error]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Single(page.FindAll("[data-test=limits-editor]"));
        await using var db = _fixture.App.CreateSystemDb();
        Assert.Equal(60, (await db.ApiKeys.SingleAsync(k => k.Id == created.Key.Id)).RequestsPerMinute);
        Assert.False(await db.AuditLog.AnyAsync(a => a.Action == "apikey.limits" && a.Target == $"apikey:{created.Key.Id}"));
    }

    [Fact]
    public async Task Rotate_DefaultOverlap_ShowsTheNewSecretOnceAndWhenTheOldOneStops()
    {
        var created = await Keys.CreateAsync(new NewApiKey($"roll-{Guid.NewGuid():N}"[..20], [ApiKeyScopes.Chat]), CancellationToken.None);
        var page = Render<KeysPage>();
        page.WaitForElement($"[data-test=rotate-{created.Key.Prefix}]", Wait).Click();

        page.WaitForElement($"[data-test=rotate-confirm-{created.Key.Prefix}]", Wait).Click();

        var secret = page.WaitForElement("[data-test=new-key-secret]", Wait).TextContent.Trim();
        await using var db = _fixture.App.CreateSystemDb();
        var stored = await db.ApiKeys.SingleAsync(k => k.Id == created.Key.Id);
        Assert.Equal(Keystone.Data.Keys.ApiKeyHasher.Hash(secret), stored.Hash);
        Assert.Equal(Keystone.Data.Keys.ApiKeyHasher.Hash(created.Secret), stored.PreviousHash);
        // The default overlap is a day: long enough to redeploy, short enough that a leaked secret dies soon.
        Assert.InRange(stored.PreviousExpiresUtc!.Value, DateTime.UtcNow.AddHours(23.9), DateTime.UtcNow.AddHours(24.1));
        var note = page.Find("[data-test=rotated-note]").TextContent;
        Assert.Contains($"The old secret ({created.Key.Prefix}…) keeps working until", note, StringComparison.Ordinal);
        Assert.Contains(created.Key.Prefix, page.Find($"[data-test=previous-{stored.Prefix}]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EditExpiry_DateWithinAWeek_SavesItAndFlagsTheKey()
    {
        var created = await Keys.CreateAsync(new NewApiKey($"exp-{Guid.NewGuid():N}"[..20], [ApiKeyScopes.Chat]), CancellationToken.None);
        var day = DateTime.UtcNow.Date.AddDays(3);
        var page = Render<KeysPage>();
        page.WaitForElement($"[data-test=edit-{created.Key.Prefix}]", Wait).Click();

        InputOf(page, "edit-expires").Change(day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        page.Find("[data-test=edit-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("expires in 3 d", page.Find($"[data-test=status-{created.Key.Prefix}]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Contains("expire", page.Find("[data-test=expiring-soon]").TextContent, StringComparison.Ordinal);
        await using var db = _fixture.App.CreateSystemDb();
        Assert.Equal(DateTime.SpecifyKind(day, DateTimeKind.Utc), (await db.ApiKeys.SingleAsync(k => k.Id == created.Key.Id)).ExpiresUtc);
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "apikey.expiry" && a.Target == $"apikey:{created.Key.Id}"));
    }

    [Fact]
    public async Task EditExpiry_InvalidLimitWithNewDate_ChangesNeither()
    {
        var created = await Keys.CreateAsync(new NewApiKey($"both-{Guid.NewGuid():N}"[..20], [ApiKeyScopes.Chat], 60), CancellationToken.None);
        var page = Render<KeysPage>();
        page.WaitForElement($"[data-test=edit-{created.Key.Prefix}]", Wait).Click();

        page.WaitForElement("[data-test=edit-rpm]", Wait).Change("0");
        InputOf(page, "edit-expires").Change(DateTime.UtcNow.Date.AddDays(10).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        page.Find("[data-test=edit-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("Requests per minute must be between", page.Find("[data-test=edit-error]").TextContent, StringComparison.Ordinal), Wait);
        await using var db = _fixture.App.CreateSystemDb();
        var stored = await db.ApiKeys.SingleAsync(k => k.Id == created.Key.Id);
        Assert.Null(stored.ExpiresUtc);
        Assert.Equal(60, stored.RequestsPerMinute);
    }

    [Fact]
    public async Task Create_WithExpiryDate_StoresMidnightUtcOfThatDay()
    {
        var name = $"new-{Guid.NewGuid():N}"[..20];
        var day = DateTime.UtcNow.Date.AddDays(30);
        var page = Render<KeysPage>();
        page.WaitForElement("[data-test=key-name]", Wait).Change(name);
        InputOf(page, "key-expires").Change(day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));

        page.Find("[data-test=key-create]").Click();

        page.WaitForElement("[data-test=new-key-secret]", Wait);
        await using var db = _fixture.App.CreateSystemDb();
        var stored = await db.ApiKeys.SingleAsync(k => k.Name == name);
        Assert.Equal(DateTime.SpecifyKind(day, DateTimeKind.Utc), stored.ExpiresUtc);
    }

    // MudBlazor puts a picker's attributes on its wrapper or its input depending on the component; take the input.
    private static AngleSharp.Dom.IElement InputOf(IRenderedComponent<KeysPage> page, string test)
    {
        var element = page.WaitForElement($"[data-test={test}]", Wait);
        return element.TagName == "INPUT" ? element : element.QuerySelector("input") ?? throw new InvalidOperationException($"No input in [data-test={test}].");
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services are only async-disposable: bUnit's container must be disposed asynchronously.
    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }
}
