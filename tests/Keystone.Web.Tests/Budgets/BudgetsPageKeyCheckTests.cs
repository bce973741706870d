using Bunit;
using Keystone.Web.Features.Budgets;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Api;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;

namespace Keystone.Web.Tests.Budgets;

/// <summary>
/// /budgets tries a provider key when it is saved or tested again (decision 0074): over the real app, signed in as
/// Initech's admin, with a loopback OpenAI server (<c>up</c>) and a port nobody listens on (<c>down</c>).
/// </summary>
public sealed class BudgetsPageKeyCheckTests : KeystoneComponentTest, IClassFixture<ProviderKeyCheckFixture>, IAsyncLifetime
{
    // A bound for the page's database and loopback round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly ProviderKeyCheckFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public BudgetsPageKeyCheckTests(ProviderKeyCheckFixture fixture)
    {
        _fixture = fixture;
        _scope = BudgetsPageTests.AddPageServices(Services, fixture.Api.App, TimeProvider.System);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    private async Task<IRenderedComponent<BudgetsPage>> RenderPageForAsync(string provider)
    {
        var page = Render<BudgetsPage>();
        page.WaitForElement("[data-test=byok-save]", Wait);
        var select = page.FindComponent<MudSelect<string>>();
        await page.InvokeAsync(() => select.Instance.ValueChanged.InvokeAsync(provider));
        return page;
    }

    private async Task<bool> StoredAsync(string provider)
    {
        await using var db = _fixture.Api.App.CreateSystemDb();
        return await db.ProviderCredentials.AnyAsync(c => c.TenantId == DemoData.InitechId && c.Provider == provider);
    }

    [Fact]
    public async Task SaveKey_ProviderRefusesIt_SaysSoAndStoresNothing()
    {
        _fixture.Up.Enqueue(MockReply.Json(401, """{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"""));
        var page = await RenderPageForAsync("up");

        page.Find("[data-test=byok-key]").Change("sk-initech-typo-0123456789");
        page.Find("[data-test=byok-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("up refused this key, so it was not saved", page.Find("[data-test=byok-error]").TextContent,
            StringComparison.Ordinal), Wait);
        Assert.Contains("Incorrect API key provided", page.Find("[data-test=byok-error]").TextContent, StringComparison.Ordinal);
        Assert.DoesNotContain("0123456789", page.Markup, StringComparison.Ordinal);
        Assert.False(await StoredAsync("up"));
    }

    [Fact]
    public async Task SaveKey_ProviderUnreachable_SavesItWithAWarningAndShowsTheCheckInTheList()
    {
        var page = await RenderPageForAsync("down");

        page.Find("[data-test=byok-key]").Change("sk-initech-rotate-0123456789");
        page.Find("[data-test=byok-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("is saved, but it could not be verified", page.Find("[data-test=byok-warning]").TextContent,
            StringComparison.Ordinal), Wait);
        Assert.Contains("connection failed", page.Find("[data-test=byok-warning]").TextContent, StringComparison.Ordinal);
        Assert.Contains("unverified", page.Find("[data-test=byok-check-down]").TextContent, StringComparison.Ordinal);
        Assert.True(await StoredAsync("down"));
    }

    [Fact]
    public async Task TestAgain_KeyRevokedSinceItWasSaved_ShowsItRefusedKeepsItAndAuditsTheCheck()
    {
        _fixture.Up.Enqueue(MockReply.Json(200, """{"object":"list","data":[]}"""));
        var page = await RenderPageForAsync("up");
        page.Find("[data-test=byok-key]").Change("sk-initech-good-0123456789");
        page.Find("[data-test=byok-save]").Click();
        page.WaitForAssertion(() => Assert.Contains("accepted", page.Find("[data-test=byok-check-up]").TextContent, StringComparison.Ordinal), Wait);
        _fixture.Up.Enqueue(MockReply.Json(401, """{"error":{"message":"This key was revoked","type":"invalid_request_error"}}"""));

        page.Find("[data-test=byok-test-up]").Click();

        page.WaitForAssertion(() => Assert.Contains("up refused your key", page.Find("[data-test=byok-warning]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Contains("rejected", page.Find("[data-test=byok-check-up]").TextContent, StringComparison.Ordinal);
        Assert.True(await StoredAsync("up"));
        await using var db = _fixture.Api.App.CreateSystemDb();
        var check = await db.AuditLog.SingleAsync(a => a.TenantId == DemoData.InitechId && a.Action == "byok.check");
        Assert.Contains("rejected", check.MetadataJson, StringComparison.Ordinal);
        Assert.DoesNotContain("0123456789", check.MetadataJson ?? "", StringComparison.Ordinal);
        await _scope.ServiceProvider.GetRequiredService<BudgetSettingsService>().RemoveProviderKeyAsync("up", CancellationToken.None);
    }
}
