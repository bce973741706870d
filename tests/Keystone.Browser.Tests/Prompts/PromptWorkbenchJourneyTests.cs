using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Prompts;

[Collection(BrowserCollection.Name)]
public sealed partial class PromptWorkbenchJourneyTests(BrowserFixture fixture)
{
    private const string AcmeId = "a0000000-0000-4000-8000-00000000ac3e";
    private const string Schema = """{"type":"object","properties":{"reply":{"type":"string"},"handover":{"type":"boolean"}},"required":["reply","handover"]}""";

    [Fact]
    public async Task Product_EditsPreviewsPricesTestsSavesDiffsActivatesAndRollsBack()
    {
        var page = await fixture.SignInAsync("product@keystone.demo");
        await page.GotoAsync("/prompts/support-reply");
        await BrowserFixture.WaitForCircuitAsync(page);
        await Assertions.Expect(page.Locator("[data-test=cost-total]")).ToBeVisibleAsync();

        // Edit: a new version from the shown (active) v2; the preview and the cost follow the typing.
        await page.ClickAsync("[data-test=new-version]");
        var system = page.Locator("textarea[data-test=new-version-system]");
        await Assertions.Expect(system).ToBeVisibleAsync();
        var staticBefore = await TokensAsync(page);
        await system.FillAsync(await system.InputValueAsync() + " Always end with a short thank-you to the customer for writing in.");
        await Assertions.Expect(page.Locator("[data-test=new-version-form] [data-test=preview-system]"))
            .ToContainTextAsync("thank-you to the customer");
        await Assertions.Expect(page.Locator("[data-test=new-version-form] [data-test=preview-system]")).ToContainTextAsync("Acme's support assistant");
        await Assertions.Expect(page.Locator("[data-test=cost-static-tokens]")).Not.ToHaveTextAsync(staticBefore.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(await TokensAsync(page) > staticBefore);
        await page.Locator("textarea[data-test=new-version-schema]").FillAsync(Schema);

        // Test run: the draft streamed through the gateway next to the active version.
        await page.ClickAsync("[data-test=test-run-start]");
        await Assertions.Expect(page.Locator("[data-test=test-result-a]")).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("[data-test=test-result-b]")).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("[data-test=test-answer-a]")).ToContainTextAsync("handover");
        await Assertions.Expect(page.Locator("[data-test=test-cost-a]")).ToHaveTextAsync(new Regex(@"^\$0\.\d"));
        await BrowserFixture.ScreenshotAsync(page, "prompt-editor-test-run");

        // Save v(n+1), then diff it against the active version.
        await BrowserFixture.Input(page, "new-version-note").FillAsync("Thank the customer; answer as JSON.");
        await page.ClickAsync("[data-test=new-version-save]");
        await Assertions.Expect(page.Locator("[data-test=prompt-message]")).ToContainTextAsync("saved");
        var saved = int.Parse(VersionSaved().Match((await page.Locator("[data-test=prompt-message]").TextContentAsync())!).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(saved >= 4);
        await Assertions.Expect(page.Locator("[data-test=diff-right-system] ins").First).ToContainTextAsync("thank");
        await Assertions.Expect(page.Locator("[data-test=diff-setting][data-changed=true]").First).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "prompt-diff");

        // Activate it for Acme (whose API key the demo uses), call the prompt API: the new version answers (JSON).
        await page.Locator("[data-test=activate-tenant-select]").ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = "Acme" }).First.ClickAsync();
        await page.ClickAsync("[data-test=activate-tenant]");
        // support-reply has an eval set, so the activation gate's dialog asks first (issue 23). The journey waits for the
        // gate's final word (anything but pending: the runs are finished), so the buttons no longer change under
        // it, then activates, or overrides with a written reason (the gate's decisions are tested in Keystone.Web.Tests).
        await ActivationGateSteps.FinalVerdictAsync(page);
        if (await page.Locator("[data-test=gate-activate]").CountAsync() > 0)
        {
            await page.ClickAsync("[data-test=gate-activate]");
        }
        else
        {
            await page.Locator("textarea[data-test=gate-reason]").FillAsync("Browser journey: activating without waiting for the eval runs.");
            await page.ClickAsync("[data-test=gate-override]");
        }
        await Assertions.Expect(page.Locator($"[data-test=override-{AcmeId}]")).ToContainTextAsync($"v{saved}");
        var afterActivate = await CallPromptAsync();
        var answer = JsonDocument.Parse(afterActivate).RootElement;
        Assert.Equal(JsonValueKind.String, answer.GetProperty("reply").ValueKind);
        Assert.True(answer.GetProperty("handover").ValueKind is JsonValueKind.True or JsonValueKind.False);

        // Roll back in one click: the next call answers with Acme's previous version (prose, no schema).
        await page.ClickAsync($"[data-test=rollback-{AcmeId}]");
        // Rolling back changes production: the dialog says what changes before anything does (issue 21).
        await Assertions.Expect(page.Locator(".mud-dialog")).ToContainTextAsync("goes back to the version that was active before");
        await page.Locator(".mud-dialog button", new PageLocatorOptions { HasText = "Roll back" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=prompt-message]")).ToContainTextAsync("Rolled back");
        await Assertions.Expect(page.Locator($"[data-test=override-{AcmeId}]")).Not.ToContainTextAsync($"v{saved}");
        var afterRollback = await CallPromptAsync();
        Assert.False(afterRollback.TrimStart().StartsWith('{'), afterRollback);
        await page.Context.CloseAsync();
    }

    private static async Task<int> TokensAsync(IPage page)
        => int.Parse((await page.Locator("[data-test=cost-static-tokens]").TextContentAsync())!.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);

    private async Task<string> CallPromptAsync()
    {
        using var http = new HttpClient { BaseAddress = new Uri(fixture.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BrowserFixture.DemoApiKey);
        var response = await http.PostAsync("/v1/prompts/support-reply/completions", new StringContent(
            """{"variables":{"company":"Acme","customer_name":"Jordan","question":"Where is order A-1042?"}}""", Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
    }

    [GeneratedRegex(@"Version (\d+) saved")]
    private static partial Regex VersionSaved();
}
