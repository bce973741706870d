using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Dashboards;

/// <summary>
/// The founder's and a tenant admin's dashboards in a real browser, on the demo history the app recorded
/// through its gateway at start-up. Numbers on the page are checked against a direct SQL sum over
/// <c>llm_calls</c> (the HTTP usage API is not on this branch yet).
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class DashboardJourneyTests(BrowserFixture fixture)
{
    private static readonly Guid Acme = Guid.Parse("a0000000-0000-4000-8000-00000000ac3e");
    private static readonly Guid Globex = Guid.Parse("a0000000-0000-4000-8000-0000000061b0");

    [Fact]
    public async Task Overview_Founder_RendersChartsAsSvg()
    {
        var page = await fixture.SignInAsync("founder@keystone.demo");

        await page.GotoAsync("/dashboard");
        await BrowserFixture.WaitForCircuitAsync(page);

        await page.Locator("[data-test=chart-trend] svg").First.WaitForAsync();
        await page.Locator("[data-test=chart-breakdown] svg").First.WaitForAsync();
        await Assertions.Expect(page.Locator("[data-test=kpi-revenue]")).ToContainTextAsync("$");
        Assert.True(await page.Locator("[data-test=latency-table] tbody tr").CountAsync() > 0);
        await BrowserFixture.ScreenshotAsync(page, "dashboard-overview");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Margin_Founder_AcmeCostEqualsSqlSumAndGlobexIsFlagged()
    {
        var page = await fixture.SignInAsync("founder@keystone.demo");
        await page.GotoAsync("/margin");
        await BrowserFixture.WaitForCircuitAsync(page);

        await page.ClickAsync("[data-test=range-30]");
        var today = DateTime.UtcNow.Date;
        var acmeRow = page.Locator("[data-test=margin-table] tbody tr", new PageLocatorOptions { HasText = "Acme" });
        await acmeRow.Locator("[data-test=sparkline] svg").First.WaitForAsync();

        // The range click re-renders the table after its query; wait for the cell to show the 30-day figure
        // rather than reading the month-to-date one it replaces.
        var expected = SumCost(Acme, today.AddDays(-29), today.AddDays(1), platformOnly: true);
        await Assertions.Expect(acmeRow.Locator("[data-test=margin-cost] [data-micros]"))
            .ToHaveAttributeAsync("data-micros", expected.ToString(CultureInfo.InvariantCulture), new() { Timeout = 10_000 });
        Assert.True(expected > 0);
        var globexRow = page.Locator("[data-test=margin-table] tbody tr", new PageLocatorOptions { HasText = "Globex" });
        await Assertions.Expect(globexRow.Locator("[data-test=margin-flag]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "margin-table");

        await acmeRow.Locator("[data-test=margin-tenant]").ClickAsync();
        // The drill-down keeps the chosen range in its address (issue 21).
        await page.WaitForURLAsync($"**/margin/{Acme}?from={today.AddDays(-29):yyyy-MM-dd}&to={today:yyyy-MM-dd}");
        await page.Locator("[data-test=chart-tenant-days] svg").First.WaitForAsync();
        Assert.True(await page.Locator("[data-test=feature-row]").CountAsync() >= 3);
        await BrowserFixture.ScreenshotAsync(page, "margin-acme");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Usage_GlobexAdmin_SeesOwnCostOnly()
    {
        var page = await fixture.SignInAsync("admin@globex.demo");
        await page.GotoAsync("/usage");
        await BrowserFixture.WaitForCircuitAsync(page);

        await page.ClickAsync("[data-test=range-30]");
        var today = DateTime.UtcNow.Date;
        var expected = SumCost(Globex, today.AddDays(-29), today.AddDays(1), platformOnly: false, rolledUpOnly: false);
        await Assertions.Expect(page.Locator("[data-test=usage-cost] [data-micros]"))
            .ToHaveAttributeAsync("data-micros", expected.ToString(CultureInfo.InvariantCulture));
        await page.Locator("[data-test=chart-usage-days] svg").First.WaitForAsync();

        var users = await page.Locator("[data-test=usage-by-user] tbody td:first-child").AllTextContentsAsync();
        Assert.NotEmpty(users);
        Assert.All(users, u => Assert.StartsWith("globex-", u, StringComparison.Ordinal));
        // A tenant admin also sees what the caches saved (a money figure, $0.00 when nothing was cached).
        await Assertions.Expect(page.Locator("[data-test=usage-cache-saved]")).ToContainTextAsync("$");
        await BrowserFixture.ScreenshotAsync(page, "usage-globex-admin");
        var margin = await page.GotoAsync("/margin");
        Assert.Equal(403, margin!.Status);
        await page.Context.CloseAsync();
    }

    // Raw sum straight from the app's database file, independent of rollups and queries. Other browser tests share
    // this app and add calls after the start-up rollup: the margin page reads rollups, so it counts only the calls the
    // rollup job has taken in (ingested up to its watermark); the usage page also counts the calls after the watermark
    // (docs/decisions/0024-one-usage-query-service.md), so for it every call counts.
    private long SumCost(Guid tenant, DateTime fromUtc, DateTime toUtc, bool platformOnly, bool rolledUpOnly = true)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = fixture.DatabasePath, Mode = SqliteOpenMode.ReadOnly }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(SUM(cost_micros), 0) FROM llm_calls WHERE upper(tenant_id) = upper($t) AND created_utc >= $from AND created_utc < $to"
            + (rolledUpOnly ? " AND julianday(ingested_utc) <= (SELECT julianday(watermark_utc) FROM rollup_state)" : "")
            + (platformOnly ? " AND billed_to = 'Platform'" : "");
        command.Parameters.AddWithValue("$t", tenant.ToString());
        command.Parameters.AddWithValue("$from", fromUtc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("$to", toUtc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        return (long)command.ExecuteScalar()!;
    }
}
