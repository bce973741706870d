using System.Net.Http.Headers;
using System.Text;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Shell;

/// <summary>
/// A tenant admin turns on caching for one feature on the caching page of the real app, and the tenant's product
/// (the API with Acme's key) gets its repeated question answered from cache on the next call.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class CachingJourneyTests(BrowserFixture fixture)
{
    [Fact]
    public async Task TenantAdmin_TurnsOnCachingForAFeature_AndTheNextRepeatIsAnsweredFromCache()
    {
        var feature = $"journey-{Guid.NewGuid():N}"[..16];
        using var api = new HttpClient { BaseAddress = new Uri(fixture.BaseUrl) };
        Assert.Equal("miss", await AskAsync(api, feature));
        Assert.Equal("miss", await AskAsync(api, feature));

        var page = await fixture.SignInAsync("admin@acme.demo");
        await page.GotoAsync($"{fixture.BaseUrl}/");
        await BrowserFixture.WaitForCircuitAsync(page);
        await page.ClickAsync("[data-test=nav-caching]");
        await page.WaitForURLAsync("**/caching");
        await Assertions.Expect(page.Locator("[data-test=caching-table]")).ToBeVisibleAsync();

        await BrowserFixture.Input(page, "new-feature").FillAsync(feature);
        await page.ClickAsync("[data-test=add-feature]");
        await Assertions.Expect(page.Locator($"[data-test=source-{feature}]")).ToHaveTextAsync("yours");
        await page.Locator($"[data-test=every-{feature}]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-snackbar")).ToContainTextAsync("every repeat cached");
        await BrowserFixture.ScreenshotAsync(page, "caching-acme-admin");

        // The first call after the change stores its answer; the repeat is served from cache, at temperature 0.7.
        Assert.Equal("miss", await AskAsync(api, feature));
        Assert.Equal("exact", await AskAsync(api, feature));

        await page.ReloadAsync();
        await BrowserFixture.WaitForCircuitAsync(page);
        await Assertions.Expect(page.Locator($"[data-test=every-{feature}]")).ToHaveAttributeAsync("aria-checked", "true");
        await page.Context.CloseAsync();
    }

    private static async Task<string> AskAsync(HttpClient api, string feature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(
                """{"model":"fast","temperature":0.7,"messages":[{"role":"user","content":"What are your opening hours?"}]}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BrowserFixture.DemoApiKey);
        request.Headers.Add("X-Keystone-Feature", feature);
        using var response = await api.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return response.Headers.GetValues("X-Keystone-Cache").Single();
    }
}
