using System.Globalization;
using System.Text.RegularExpressions;
using Keystone.Browser.Tests.Prompts;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Evals;

/// <summary>
/// The evals journey of issue 23 (item 5): a prompt editor makes a slow version of <c>support-reply</c> (the simulated
/// provider's <c>[sim:tps=12]</c> marker, so each answer takes seconds), runs the set on it and watches the run page fill
/// in without a reload, runs it on <c>fast</c> too and compares the two, then tries to activate a worse version (one
/// token per answer) and sees the gate block it against the active version's score.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed partial class EvalJourneyTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Product_RunsASetWatchesItLive_ComparesSmartAndFast_AndTheGateBlocksAWorseVersion()
    {
        var page = await fixture.SignInAsync("product@keystone.demo");
        var slow = await SaveVersionAsync(page, user => user + " [sim:tps=12]", null, "Browser journey: slow answers.");
        var worse = await SaveVersionAsync(page, user => user, 1, "Browser journey: one token per answer.");

        // Start a run of the global set on the slow version (alias smart) from the set's page.
        await page.GotoAsync("/evals");
        await BrowserFixture.WaitForCircuitAsync(page);
        await page.Locator("[data-test=eval-set-support-reply-Global] a").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=run-start-form]")).ToBeVisibleAsync();
        await ChooseAsync(page, "run-version", $"Version {slow}");
        await ChooseAsync(page, "run-alias", "smart");
        await page.ClickAsync("[data-test=run-start]");
        await page.WaitForURLAsync(RunPage());
        var smartRun = page.Url;

        // Live: the progress text changes and the results appear while the page stays the same document (no reload).
        await page.EvaluateAsync("() => { window.__evalJourney = 'same page'; }");
        var seen = new List<string>();
        var progress = page.Locator("[data-test=run-progress-text]");
        for (var i = 0; i < 600 && !seen.Contains("3 of 3 examples"); i++)
        {
            var text = (await progress.TextContentAsync())?.Trim() ?? "";
            if (seen.Count == 0 || seen[^1] != text)
            {
                seen.Add(text);
            }

            await Task.Delay(100);
        }

        Assert.Equal("3 of 3 examples", seen[^1]);
        Assert.True(seen.Count >= 2, "the progress never moved: " + string.Join(" → ", seen));
        await Assertions.Expect(page.Locator("[data-test=run-status]")).ToHaveTextAsync(new Regex("done", RegexOptions.IgnoreCase));
        await Assertions.Expect(page.Locator("[data-test=results-table] [data-test=result-answer]")).ToHaveCountAsync(3);
        Assert.Equal("same page", await page.EvaluateAsync<string>("() => window.__evalJourney"));
        Assert.Equal(smartRun, page.Url);
        await BrowserFixture.ScreenshotAsync(page, "eval-run-done");

        // The same set and version on fast, then compare the two runs (smart vs fast) from the set's run list.
        await page.GoBackAsync();
        await Assertions.Expect(page.Locator("[data-test=run-start-form]")).ToBeVisibleAsync();
        await ChooseAsync(page, "run-version", $"Version {slow}");
        await ChooseAsync(page, "run-alias", "fast");
        await page.ClickAsync("[data-test=run-start]");
        await page.WaitForURLAsync(RunPage());
        await Assertions.Expect(page.Locator("[data-test=run-status]")).ToHaveTextAsync(new Regex("done", RegexOptions.IgnoreCase), new() { Timeout = 90_000 });
        await page.GoBackAsync();
        // The two newest runs (the list is newest first): fast, then smart. MudBlazor draws its own box over the native input.
        var picks = page.Locator("[data-test=runs-table] input[type=checkbox]");
        await Assertions.Expect(picks.Nth(1)).ToBeAttachedAsync();
        await picks.Nth(0).SetCheckedAsync(true, new() { Force = true });
        await picks.Nth(1).SetCheckedAsync(true, new() { Force = true });
        await Assertions.Expect(page.Locator("[data-test=runs-compare]")).ToBeEnabledAsync();
        await page.ClickAsync("[data-test=runs-compare]");
        await page.WaitForURLAsync(new Regex("/evals/compare\\?a=.+&b=.+"));
        var summary = page.Locator("[data-test=compare-summary]");
        await Assertions.Expect(summary).ToContainTextAsync($"v{slow} · fast");
        await Assertions.Expect(summary).ToContainTextAsync($"v{slow} · smart");
        await BrowserFixture.ScreenshotAsync(page, "eval-compare-smart-fast");

        // The worse version cannot be activated silently: the gate runs it and blocks against the active version's score.
        await page.GotoAsync("/prompts/support-reply");
        await BrowserFixture.WaitForCircuitAsync(page);
        var activeBefore = await page.Locator("[data-test=active-global]").TextContentAsync();
        await page.ClickAsync($"[data-test=version-{worse}]");
        await Assertions.Expect(page.Locator("[data-test=version-view-title]")).ToContainTextAsync($"Version {worse}");
        await page.ClickAsync("[data-test=activate-global]");
        var verdict = await ActivationGateSteps.FinalVerdictAsync(page);
        Assert.Equal("blocked", verdict);
        await Assertions.Expect(page.Locator("[data-test=gate-verdict]")).ToContainTextAsync("Blocked");
        await Assertions.Expect(page.Locator("[data-test=gate-activate]")).ToHaveCountAsync(0);
        await BrowserFixture.ScreenshotAsync(page, "eval-gate-blocked");
        await page.ClickAsync("[data-test=gate-cancel]");
        await Assertions.Expect(page.Locator("[data-test=active-global]")).ToHaveTextAsync(activeBefore!);
        await page.Context.CloseAsync();
    }

    /// <summary>Saves a new version from the active one on the prompt page; returns its number.</summary>
    private static async Task<int> SaveVersionAsync(IPage page, Func<string, string> user, int? maxTokens, string note)
    {
        await page.GotoAsync("/prompts/support-reply");
        await BrowserFixture.WaitForCircuitAsync(page);
        await page.ClickAsync("[data-test=new-version]");
        var template = page.Locator("textarea[data-test=new-version-user]");
        await Assertions.Expect(template).ToBeVisibleAsync();
        await template.FillAsync(user(await template.InputValueAsync()));
        if (maxTokens is { } m)
        {
            await BrowserFixture.Input(page, "new-version-max-tokens").FillAsync(m.ToString(CultureInfo.InvariantCulture));
        }

        await BrowserFixture.Input(page, "new-version-note").FillAsync(note);
        await page.ClickAsync("[data-test=new-version-save]");
        await Assertions.Expect(page.Locator("[data-test=prompt-message]")).ToContainTextAsync("saved");
        return int.Parse(VersionSaved().Match((await page.Locator("[data-test=prompt-message]").TextContentAsync())!).Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static async Task ChooseAsync(IPage page, string select, string item)
    {
        await page.Locator($"[data-test={select}]").ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = item }).First.ClickAsync();
        await Assertions.Expect(page.Locator(".mud-popover-open .mud-list-item")).ToHaveCountAsync(0);
    }

    [GeneratedRegex(@"/evals/runs/[0-9a-f-]{36}$")]
    private static partial Regex RunPage();

    [GeneratedRegex(@"Version (\d+) saved")]
    private static partial Regex VersionSaved();
}
