using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Shell;

/// <summary>
/// A tenant admin's key lifecycle in a real browser against the real app: create a key that expires, use the secret
/// the page showed once, rotate it with the old secret stopping at once, revoke it. Each step is checked by calling
/// the running app's API with the secret, as the tenant's product would.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class KeyLifecycleJourneyTests(BrowserFixture fixture)
{
    [Fact]
    public async Task TenantAdmin_CreatesUsesRotatesAndRevokesAKey()
    {
        var page = await fixture.SignInAsync("admin@acme.demo");
        await page.GotoAsync($"{fixture.BaseUrl}/keys");
        await BrowserFixture.WaitForCircuitAsync(page);
        var name = $"journey-{Guid.NewGuid():N}"[..16];
        var expires = DateTime.UtcNow.Date.AddDays(5);

        await BrowserFixture.Input(page, "key-name").FillAsync(name);
        await BrowserFixture.Input(page, "key-expires").FillAsync(expires.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        await BrowserFixture.Input(page, "key-expires").PressAsync("Tab");
        await page.ClickAsync("[data-test=key-create]");
        var first = (await page.Locator("[data-test=new-key-secret]").InnerTextAsync()).Trim();
        Assert.StartsWith("ks_", first, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("[data-test=expiring-soon]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "keys-created-expiring");

        using var api = new HttpClient { BaseAddress = new Uri(fixture.BaseUrl) };
        var (status, _, expiresHeader) = await ModelsAsync(api, first);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(expires.ToString("yyyy-MM-dd'T'00:00:00'Z'", System.Globalization.CultureInfo.InvariantCulture), expiresHeader);

        var prefix = first[..11];
        await page.ClickAsync($"[data-test=rotate-{prefix}]");
        // A click on a list item while the popover is still opening can be lost on a busy machine: pick until it shows.
        for (var attempt = 0; attempt < 5 && await BrowserFixture.Input(page, "rotate-overlap").InputValueAsync() != "stops now"; attempt++)
        {
            await page.ClickAsync("[data-test=rotate-overlap]");
            await page.Locator(".mud-popover-open .mud-list-item").Filter(new() { HasText = "stops now" }).First.ClickAsync();
            await page.WaitForTimeoutAsync(200);
        }

        await Assertions.Expect(BrowserFixture.Input(page, "rotate-overlap")).ToHaveValueAsync("stops now");
        await page.ClickAsync($"[data-test=rotate-confirm-{prefix}]");
        await Assertions.Expect(page.Locator("[data-test=rotated-note]")).ToContainTextAsync("no longer works");
        var second = (await page.Locator("[data-test=new-key-secret]").InnerTextAsync()).Trim();
        Assert.NotEqual(first, second);
        await BrowserFixture.ScreenshotAsync(page, "keys-rotated");

        var (oldStatus, oldCode, _) = await ModelsAsync(api, first);
        Assert.Equal(HttpStatusCode.Unauthorized, oldStatus);
        Assert.Equal("api_key_expired", oldCode);
        Assert.Equal(HttpStatusCode.OK, (await ModelsAsync(api, second)).Status);

        var newPrefix = second[..11];
        await page.ClickAsync($"[data-test=revoke-{newPrefix}]");
        await page.ClickAsync($"[data-test=revoke-confirm-{newPrefix}]");
        await Assertions.Expect(page.Locator($"[data-test=status-{newPrefix}]")).ToContainTextAsync("revoked");
        Assert.Equal(HttpStatusCode.Unauthorized, (await ModelsAsync(api, second)).Status);
        await page.Context.CloseAsync();
    }

    private static async Task<(HttpStatusCode Status, string? Code, string? ExpiresHeader)> ModelsAsync(HttpClient api, string secret)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        using var response = await api.SendAsync(request);
        string? code = null;
        if (!response.IsSuccessStatusCode)
        {
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            code = doc.RootElement.GetProperty("error").GetProperty("code").GetString();
        }

        var header = response.Headers.TryGetValues("X-Keystone-Key-Expires", out var values) ? values.Single() : null;
        return (response.StatusCode, code, header);
    }

}
