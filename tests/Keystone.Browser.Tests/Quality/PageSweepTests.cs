using System.Text;
using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Keystone.Browser.Tests.Quality;

/// <summary>
/// Accessibility and layout of every page of every role (issue 21, "Accessibility in CI" and "Layout in CI").
/// Each role signs in once and walks every route of the catalog in one page: a route its role may not open answers
/// 403 and is left out; a route with parameters is opened with a link one of the role's pages showed. On each page:
/// axe-core finds no serious or critical violation (colour contrast included) in the light theme and, after the app
/// bar's theme toggle, in the dark theme, and at 1280 and 1440 px wide the main
/// content does not scroll sideways, no table is wider than its box, no cell's content is cut off and no time or amount
/// in a table wraps onto two lines. A full-page
/// screenshot of each page at each width is kept under <c>TestResults/browser/pages</c>.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class PageSweepTests(BrowserFixture fixture, ITestOutputHelper output)
{
    private static readonly int[] Widths = [1280, 1440];

    /// <summary>What the browser measures: the page, the main content, every table box and every cell.</summary>
    private const string LayoutProbe = """
        () => {
          const found = [];
          const text = el => (el.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 60);
          const where = el => {
            const tagged = el.closest('[data-test]');
            return tagged ? `[data-test=${tagged.getAttribute('data-test')}]` : el.tagName.toLowerCase();
          };
          const doc = document.documentElement;
          if (doc.scrollWidth > doc.clientWidth + 1) found.push(`the page scrolls sideways (${doc.scrollWidth}px of content in ${doc.clientWidth}px)`);
          const main = document.querySelector('.mud-main-content') || document.querySelector('main') || document.body;
          if (main.scrollWidth > main.clientWidth + 1) found.push(`the main content is wider than its box (${main.scrollWidth}px in ${main.clientWidth}px)`);
          for (const box of main.querySelectorAll('.mud-table-container')) {
            if (box.offsetParent !== null && box.scrollWidth > box.clientWidth + 1)
              found.push(`table ${where(box)} is wider than its box (${box.scrollWidth}px in ${box.clientWidth}px)`);
          }
          for (const cell of main.querySelectorAll('td, th')) {
            if (cell.offsetParent !== null && cell.scrollWidth > cell.clientWidth + 1)
              found.push(`cell "${text(cell)}" in ${where(cell)} is cut off (${cell.scrollWidth}px in ${cell.clientWidth}px)`);
          }
          // A time or an amount in a table is one token: it never wraps onto two lines (issue 21). Found by what the text
          // says, not by a class, so a cell that forgets TimeText / MoneyText is caught too: a range over the token
          // whose boxes sit on more than one line has wrapped.
          const token = /\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?|[-\u2212]?\$[\d,]+(?:\.\d+)?/g;
          for (const cell of main.querySelectorAll('td, th')) {
            if (cell.offsetParent === null) continue;
            const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              for (const m of node.data.matchAll(token)) {
                const range = document.createRange();
                range.setStart(node, m.index);
                range.setEnd(node, m.index + m[0].length);
                const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
                if (lines.size > 1) found.push(`"${m[0]}" wraps onto ${lines.size} lines in cell "${text(cell)}" in ${where(cell)}`);
              }
            }
          }
          return found;
        }
        """;

    public static TheoryData<string> Roles => new()
    {
        "anonymous",
        "founder@keystone.demo",
        "support@keystone.demo",
        "product@keystone.demo",
        "admin@acme.demo",
        "member@acme.demo",
    };

    [Theory]
    [MemberData(nameof(Roles))]
    public async Task Every_page_of_the_role_passes_axe_and_fits_at_1280_and_1440(string role)
    {
        var anonymous = role == "anonymous";
        var page = anonymous ? await fixture.NewPageAsync() : await fixture.SignInAsync(role);
        var slugRole = anonymous ? "anonymous" : role.Split('@')[0] + "-" + role.Split('@')[1].Split('.')[0];
        var problems = new List<string>();
        var checkedPaths = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var seenLinks = new List<string>();
        var shots = Path.Combine(BrowserFixture.ArtifactsDirectory, "pages");
        Directory.CreateDirectory(shots);
        foreach (var old in Directory.EnumerateFiles(shots, slugRole + "-*.png"))
        {
            File.Delete(old); // Screenshots of an earlier run would pass for this one's.
        }

        // Pages without [Authorize] are the same for everyone: anonymous visitors and the founder check them.
        var routes = PageCatalog.All.Where(r => !r.IsPublic || anonymous || role.StartsWith("founder@", StringComparison.Ordinal)).ToList();
        foreach (var route in routes.Where(r => !r.HasParameters).Concat(routes.Where(r => r.HasParameters)))
        {
            var path = route.Template;
            if (route.HasParameters)
            {
                var sample = seenLinks.FirstOrDefault(l => route.PathPattern.IsMatch(l));
                if (sample is null)
                {
                    output.WriteLine($"{role}: no page of this role links to {route.Template}; not checked");
                    continue;
                }

                path = sample;
            }

            await page.SetViewportSizeAsync(Widths[^1], 900);
            await page.GotoAsync(path);
            await SettleAsync(page);
            var landed = new Uri(page.Url).AbsolutePath;
            if (await page.Locator("[data-test=forbidden]").CountAsync() > 0)
            {
                // Every such route shows the same 403 page: it is checked once per role.
                output.WriteLine($"{role}: {path} is not for this role (403)");
                landed = "/403-not-for-your-role";
            }

            if (!checkedPaths.Add(landed))
            {
                continue; // A redirect (to the sign-in page, say) that another route already led to.
            }

            foreach (var href in await page.EvalOnSelectorAllAsync<string[]>("a[href]", "els => els.map(a => new URL(a.href).pathname)"))
            {
                seenLinks.Add(href);
            }

            await AxeAsync(page, landed, problems);

            foreach (var width in Widths)
            {
                if (page.ViewportSize?.Width != width)
                {
                    await page.SetViewportSizeAsync(width, 900);
                    await SettleAsync(page);
                }

                foreach (var found in (await page.EvaluateAsync<string[]>(LayoutProbe)).Take(8))
                {
                    problems.Add($"{landed} at {width}px: {found}");
                }

                var name = $"{slugRole}{Slug(landed)}-{width}";
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, name + ".png"), FullPage = true });
            }

            // The dark theme (the app bar's toggle; the console starts in the system's theme): axe again in it, so its
            // palette is held to the same contrast rule. Pages outside the console's layout (sign-in) have no toggle.
            var toggle = page.Locator("[data-test=theme-toggle]");
            if (await toggle.CountAsync() > 0)
            {
                var light = await page.EvaluateAsync<string>(BackgroundProbe);
                await toggle.ClickAsync();
                await SettleAsync(page);
                if (await page.EvaluateAsync<string>(BackgroundProbe) == light)
                {
                    problems.Add($"{landed}: the theme toggle did not switch to the dark theme");
                }

                await AxeAsync(page, landed + " (dark theme)", problems);
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, $"{slugRole}{Slug(landed)}-dark.png"), FullPage = true });
            }
        }

        output.WriteLine($"{role}: checked {checkedPaths.Count} pages: {string.Join(", ", checkedPaths)}");
        Assert.True(checkedPaths.Count >= 3, $"{role} reached only {checkedPaths.Count} pages");
        Assert.True(problems.Count == 0, $"{problems.Count} problem(s) for {role}:\n" + string.Join("\n", problems));
    }

    /// <summary>The page's background colour as the theme sets it.</summary>
    private const string BackgroundProbe = "() => getComputedStyle(document.body).backgroundColor";

    /// <summary>axe-core on the page as it is now: every serious or critical violation becomes a problem.</summary>
    private static async Task AxeAsync(IPage page, string landed, List<string> problems)
    {
        var axe = await page.RunAxe();
        foreach (var v in axe.Violations.Where(v => v.Impact is "serious" or "critical"))
        {
            var nodes = string.Join("; ", v.Nodes.Take(3).Select(n => $"{n.Target} {Shorten(n.Html)}"));
            problems.Add($"{landed} axe {v.Id} ({v.Impact}): {v.Help} — {v.Nodes.Length} element(s), e.g. {nodes}");
        }
    }

    /// <summary>
    /// Waits for the circuit (when the page has one) and then until the page stops changing: data arrives over the
    /// circuit after the first render, so neither the load event nor network idle says the page is complete.
    /// </summary>
    private static async Task SettleAsync(IPage page)
    {
        if (await page.Locator("[data-test=circuit]").CountAsync() > 0)
        {
            await BrowserFixture.WaitForCircuitAsync(page);
        }

        var last = -1;
        var stable = 0;
        for (var i = 0; i < 40 && stable < 2; i++)
        {
            await page.WaitForTimeoutAsync(150);
            var now = await page.EvaluateAsync<int>("() => document.body.innerHTML.length");
            stable = now == last ? stable + 1 : 0;
            last = now;
        }
    }

    private static string Slug(string path)
    {
        var sb = new StringBuilder();
        foreach (var c in path)
        {
            sb.Append(char.IsLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-');
        }

        var slug = sb.ToString().Trim('-');
        return "-" + (slug.Length == 0 ? "home" : slug.Length > 40 ? slug[..40] : slug);
    }

    private static string Shorten(string html) => html.Length <= 120 ? html : html[..120] + "…";
}
