using Keystone.Web.Features.Margin;
using Keystone.Web.Features.Usage;
using Keystone.Web.Tests.Hosting;

namespace Keystone.Web.Tests.Dashboards;

/// <summary>
/// The margin page says when its range crosses a month's start: each month part is billed on its own, so the same days
/// can show another margin than a range inside one month (a founder comparing fortnights would otherwise be surprised).
/// </summary>
public sealed class MarginRangeMonthsTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    [Theory]
    [InlineData("2026-11-02", "2026-11-15", null)]
    [InlineData("2026-11-01", "2026-11-30", null)]
    [InlineData("2026-11-20", "2026-12-03", "November and December")]
    [InlineData("2026-12-20", "2027-01-05", "December 2026 and January 2027")]
    [InlineData("2026-09-30", "2026-11-01", "September, October and November")]
    [InlineData("2026-01-15", "2026-12-15", "12 months, January to December")]
    public void MonthsSpanned_NamesTheMonthsOfARangeAcrossAMonthStart(string from, string to, string? expected)
    {
        var range = ReportRange.FromPicker(Day(from), Day(to));

        Assert.Equal(expected, MarginRange.MonthsSpanned(range));
    }

    [Fact]
    public async Task MarginPage_RangeAcrossAMonthStart_SaysEachMonthIsBilledOnItsOwn()
    {
        var founder = await fixture.App.SignInAsync("founder@keystone.demo");
        // Last month's start: both ranges lie in the past whatever today is (a future day is not a range the page takes).
        var today = DateTime.UtcNow.Date;
        var monthStart = new DateTime(today.Year, today.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(-1);

        var across = await founder.GetStringAsync($"/margin?from={monthStart.AddDays(-5):yyyy-MM-dd}&to={monthStart.AddDays(2):yyyy-MM-dd}");
        var inside = await founder.GetStringAsync($"/margin?from={monthStart:yyyy-MM-dd}&to={monthStart.AddDays(2):yyyy-MM-dd}");

        Assert.Contains("data-test=\"range-months\"", across, StringComparison.Ordinal);
        Assert.Contains("Each month is billed on its own", across, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"range-months\"", inside, StringComparison.Ordinal);
    }

    private static DateTime Day(string text) => DateTime.SpecifyKind(DateTime.Parse(text, System.Globalization.CultureInfo.InvariantCulture), DateTimeKind.Utc);
}
