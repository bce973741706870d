using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Shell;

/// <summary>
/// A tenant admin caps one feature on the budgets page of the real app and the tenant's product (the API with
/// Acme's key) is refused with budget_exceeded on that feature, then served again once the cap is removed.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class BudgetJourneyTests(BrowserFixture fixture)
{
    [Fact]
    public async Task TenantAdmin_CapsAFeature_TheApiIsRefusedThenServedWhenTheCapGoes()
    {
        var feature = $"cap-{Guid.NewGuid():N}"[..12];
        using var api = new HttpClient { BaseAddress = new Uri(fixture.BaseUrl) };
        Assert.Equal(HttpStatusCode.OK, (await AskAsync(api, feature)).Status);

        var page = await fixture.SignInAsync("admin@acme.demo");
        await page.GotoAsync($"{fixture.BaseUrl}/");
        await BrowserFixture.WaitForCircuitAsync(page);
        await page.ClickAsync("[data-test=nav-budgets]");
        await page.WaitForURLAsync("**/budgets");
        await BrowserFixture.WaitForCircuitAsync(page);

        // A cap of one micro-dollar a day: no call's largest possible cost fits under it.
        await page.ClickAsync("[data-test=cap-scope-feature]");
        await BrowserFixture.Input(page, "cap-key").FillAsync(feature);
        await page.ClickAsync("[data-test=cap-period-day]");
        await BrowserFixture.Input(page, "cap-limit").FillAsync("0.000001");
        await BrowserFixture.Input(page, "cap-limit").PressAsync("Tab");
        await page.ClickAsync("[data-test=cap-save]");
        var id = $"feature-{feature}-day";
        await Assertions.Expect(page.Locator($"[data-test=limit-{id}]")).ToHaveTextAsync("$0.000001");
        await BrowserFixture.ScreenshotAsync(page, "budgets-acme-admin");

        var refused = await AskAsync(api, feature);
        Assert.Equal(("budget_exceeded", false), (refused.Code, refused.Status == HttpStatusCode.OK));

        await page.ClickAsync($"[data-test=remove-{id}]");
        // Removing a cap asks first, saying what changes (issue 21); cancelling would leave it in place.
        await Assertions.Expect(page.Locator(".mud-dialog")).ToContainTextAsync("no longer stopped at $0.000001");
        await page.Locator(".mud-dialog button", new PageLocatorOptions { HasText = "Remove cap" }).ClickAsync();
        await Assertions.Expect(page.Locator($"[data-test=remove-{id}]")).ToHaveCountAsync(0);
        Assert.Equal(HttpStatusCode.OK, (await AskAsync(api, feature)).Status);
        await page.Context.CloseAsync();
    }

    private static async Task<(HttpStatusCode Status, string? Code)> AskAsync(HttpClient api, string feature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"fast","messages":[{"role":"user","content":"Summarise our refund policy."}]}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BrowserFixture.DemoApiKey);
        request.Headers.Add("X-Keystone-Feature", feature);
        using var response = await api.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.OK)
        {
            return (response.StatusCode, null);
        }

        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, body.RootElement.GetProperty("error").GetProperty("code").GetString());
    }
}
