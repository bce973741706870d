using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Dashboards;

/// <summary>
/// The dashboard's charts use scales that show their data honestly (issue 21): cost on its own axis beside revenue,
/// margin % on the whole 0-100 % scale, and x labels that do not overlap.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class DashboardChartScaleTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Trend_has_a_cost_axis_margin_spans_0_to_100_percent_and_x_labels_do_not_overlap()
    {
        var page = await fixture.SignInAsync("founder@keystone.demo");
        await page.GotoAsync("/dashboard");
        await BrowserFixture.WaitForCircuitAsync(page);

        var trend = page.Locator("[data-test=chart-trend]");
        await Assertions.Expect(trend.Locator(".apexcharts-yaxis-title-text")).ToContainTextAsync("Cost (right axis)");
        Assert.Equal(2, await trend.Locator("g.apexcharts-yaxis:visible").CountAsync());

        var marginLabels = await page.Locator("[data-test=chart-margin] .apexcharts-yaxis-label").AllTextContentsAsync();
        // An SVG label's text content repeats inside its <title>: compare the start.
        Assert.Contains(marginLabels, l => l.StartsWith("100.0 %", StringComparison.Ordinal));
        Assert.Contains(marginLabels, l => l.StartsWith("0.0 %", StringComparison.Ordinal));

        // Every drawn x label keeps clear of its neighbours.
        var boxes = new List<LocatorBoundingBoxResult>();
        foreach (var label in await trend.Locator(".apexcharts-xaxis-label").AllAsync())
        {
            if ((await label.TextContentAsync())?.Trim().Length > 0 && await label.BoundingBoxAsync() is { } box)
            {
                boxes.Add(box);
            }
        }

        Assert.InRange(boxes.Count, 3, 11);
        var ordered = boxes.OrderBy(b => b.X).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            Assert.True(ordered[i].X >= ordered[i - 1].X + ordered[i - 1].Width, $"x labels {i - 1} and {i} overlap");
        }

        await BrowserFixture.ScreenshotAsync(page, "dashboard-chart-scales");
        await page.Context.CloseAsync();
    }
}
