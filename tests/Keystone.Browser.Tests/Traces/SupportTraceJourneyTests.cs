using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Traces;

/// <summary>
/// Issue 7's journey as Support, in a real browser against the real app (simulated provider): find a demo
/// conversation by a word, user and feature, open it, replay it on another model, see the diff, replay it on another
/// version of its managed prompt, save it as an eval example.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed partial class SupportTraceJourneyTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Support_FindsReadsReplaysDiffsAndSavesAnEvalExample()
    {
        var page = await fixture.SignInAsync("support@keystone.demo");

        await page.ClickAsync("[data-test=nav-traces]");
        await page.WaitForURLAsync(url => url.EndsWith("/traces", StringComparison.Ordinal));
        await BrowserFixture.WaitForCircuitAsync(page);
        // The filter is written to the URL in place (no page load); wait for the URL, not a load event. On a loaded CI
        // machine an input's change event or the click was lost once (the URL never changed in 30 s): fill and apply
        // again, up to three times, before the last wait decides.
        static bool Filtered(string url) => url.Contains("q=espresso", StringComparison.Ordinal) && url.Contains("user=acme-cust-1017", StringComparison.Ordinal);
        for (var attempt = 0; attempt < 3 && !Filtered(page.Url); attempt++)
        {
            await BrowserFixture.Input(page, "filter-text").FillAsync("espresso");
            await BrowserFixture.Input(page, "filter-user").FillAsync("acme-cust-1017");
            await BrowserFixture.Input(page, "filter-feature").FillAsync("support.chat");
            await page.ClickAsync("[data-test=filter-apply]");
            try
            {
                await page.WaitForURLAsync(Filtered, new() { WaitUntil = WaitUntilState.Commit, Timeout = 10_000 });
            }
            catch (TimeoutException)
            {
                // Tried again by the loop; the wait below fails the test if no attempt took.
            }
        }

        await page.WaitForURLAsync(Filtered, new() { WaitUntil = WaitUntilState.Commit, Timeout = 10_000 });
        await Assertions.Expect(page.Locator("[data-test=trace-link]")).ToHaveCountAsync(1);
        await BrowserFixture.ScreenshotAsync(page, "traces-search-support");

        await page.ClickAsync("[data-test=trace-link]");
        await page.WaitForURLAsync(TraceUrl());
        await BrowserFixture.WaitForCircuitAsync(page);
        await Assertions.Expect(page.Locator("[data-test=message][data-role=user]")).ToContainTextAsync("espresso machine");
        await Assertions.Expect(page.Locator("[data-test=answer]")).Not.ToBeEmptyAsync();
        // Demo support chats go through the managed prompt; Acme uses its override, v3.
        await Assertions.Expect(page.Locator("[data-test=prompt-link]")).ToContainTextAsync("support-reply v3");

        await page.GetByRole(AriaRole.Tab, new() { Name = "Replay" }).ClickAsync();
        await page.ClickAsync("[data-test=replay-model]");
        await page.Locator(".mud-popover-open .mud-list-item").Filter(new() { HasTextRegex = FastOption() }).First.ClickAsync();
        await page.ClickAsync("[data-test=replay-run]");
        await Assertions.Expect(page.Locator("[data-test=replay-diff]")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("[data-test=replay-deltas]")).ToContainTextAsync("Output tokens");
        await Assertions.Expect(page.Locator("[data-test=replay-answer]")).Not.ToBeEmptyAsync();
        await BrowserFixture.ScreenshotAsync(page, "traces-replay-diff");

        await page.ClickAsync("[data-test=replay-prompt-version]");
        await page.Locator(".mud-popover-open .mud-list-item").Filter(new() { HasTextRegex = V2Option() }).First.ClickAsync();
        await page.ClickAsync("[data-test=replay-run]");
        await Assertions.Expect(page.Locator("text=prompt v2")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("[data-test=replay-diff]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=replay-answer]")).Not.ToBeEmptyAsync();

        await page.ClickAsync("[data-test=expected-replay]");
        await page.ClickAsync("[data-test=save-eval]");
        await Assertions.Expect(page.Locator("[data-test=save-eval-result]")).ToContainTextAsync("Saved as eval example");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task TenantAdmin_CachedCall_LeadsToTheCallWhoseAnswerItServed()
    {
        // The demo history repeats questions, so some calls were answered from the cache at start-up.
        var page = await fixture.SignInAsync("admin@acme.demo");
        await page.GotoAsync("/traces?status=cached");
        await BrowserFixture.WaitForCircuitAsync(page);
        await page.Locator("[data-test=trace-link]").First.ClickAsync();
        await page.WaitForURLAsync(TraceUrl());
        var hitUrl = page.Url;

        var source = page.Locator("[data-test=cache-source] a");
        await Assertions.Expect(source).ToBeVisibleAsync();
        var sourceId = (await source.GetAttributeAsync("href"))!.Split('/')[^1];
        await BrowserFixture.ScreenshotAsync(page, "trace-cache-hit");
        await source.ClickAsync();

        // The URL changes before the new page has rendered: wait for the source call's own id on the page.
        await page.WaitForURLAsync(url => url != hitUrl && TraceUrl().IsMatch(url));
        await Assertions.Expect(page.Locator("[data-test=call-id]")).ToHaveTextAsync(sourceId);
        await Assertions.Expect(page.Locator("[data-test=answer]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=cache-source]")).ToHaveCountAsync(0);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task TenantAdmin_OpeningAnotherTenantsTraceUrl_SeesTheNotFoundPage()
    {
        var support = await fixture.SignInAsync("support@keystone.demo");
        await support.GotoAsync("/traces?user=globex-user-7");
        await BrowserFixture.WaitForCircuitAsync(support);
        var href = await support.Locator("[data-test=trace-link]").First.GetAttributeAsync("href");
        await support.Context.CloseAsync();
        var acme = await fixture.SignInAsync("admin@acme.demo");

        var response = await acme.GotoAsync(href!);

        Assert.Equal(404, response!.Status);
        await Assertions.Expect(acme.Locator("[data-test=not-found]")).ToBeVisibleAsync();
        await acme.Context.CloseAsync();
    }

    private static Regex TraceUrl() => TraceUrlPattern();

    [GeneratedRegex("/traces/[0-9a-f-]{36}$")]
    private static partial Regex TraceUrlPattern();

    [GeneratedRegex(@"^\s*fast\s*$")]
    private static partial Regex FastOption();

    [GeneratedRegex(@"^\s*v2\s*$")]
    private static partial Regex V2Option();
}
