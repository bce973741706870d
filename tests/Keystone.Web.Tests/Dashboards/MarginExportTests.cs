using System.Net;
using Keystone.Web.Tests.Hosting;

namespace Keystone.Web.Tests.Dashboards;

public sealed class MarginExportTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    [Fact]
    public async Task Get_Founder_ReturnsCsvWithOneRowPerTenant()
    {
        var client = await fixture.App.SignInAsync("founder@keystone.demo");

        var response = await client.GetAsync("/margin/export.csv?from=2026-11-01&to=2026-11-30");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n');
        Assert.StartsWith("tenant_id,tenant,plan,from,to,revenue_usd,cost_usd", lines[0], StringComparison.Ordinal);
        // Acme's cost is whatever the demo traffic rolled up so far (the rollup job may or may not have run): the
        // revenue is its plan's, and the margin columns must agree with revenue and cost.
        var price = Keystone.Web.Features.Tenants.DemoTenantsSeed.ProPriceMicros / 1_000_000m;
        var acme = Assert.Single(lines, l => l.Contains($",Acme,Pro,2026-11-01,2026-11-30,{price:0.00},", StringComparison.Ordinal)).Split(',');
        var cost = decimal.Parse(acme[6], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(cost, 0m, price);
        Assert.Equal(price - cost, decimal.Parse(acme[7], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("no", acme[10]);
        Assert.Contains(lines, l => l.Contains(",Globex,Free,", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(",Umbrella,Team (flat),", StringComparison.Ordinal));
        Assert.Equal(5, lines.Length);
    }

    [Fact]
    public async Task Get_TenantAdmin_IsForbidden()
    {
        var client = await fixture.App.SignInAsync("admin@acme.demo");

        var response = await client.GetAsync("/margin/export.csv");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Theory]
    [InlineData("from=2026-13-01&to=2026-11-30")]
    [InlineData("from=2026-11-30&to=2026-11-01")]
    [InlineData("from=2020-01-01&to=2026-11-01")]
    [InlineData("from=yesterday")]
    public async Task Get_BadRange_Is400WithCode(string query)
    {
        var client = await fixture.App.SignInAsync("founder@keystone.demo");

        var response = await client.GetAsync("/margin/export.csv?" + query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("invalid_range", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
