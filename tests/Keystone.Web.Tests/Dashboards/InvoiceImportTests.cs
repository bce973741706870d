using System.Text;
using Keystone.Data;
using Keystone.Testing;
using Keystone.Web.Features.Usage;
using Keystone.Web.Features.Margin;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Dashboards;

public sealed class InvoiceImportTests : IAsyncLifetime
{
    private SqliteTestDatabase _db = default!;
    private KeystoneDbFactory _factory = default!;
    private string _acmeSlug = "";

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _factory = _db.CreateFactory();
        await MarginData.SeedAsync(_factory);
        await using var db = _factory.ForSystem();
        _acmeSlug = (await db.Tenants.SingleAsync(t => t.Id == MarginData.Acme)).Slug;
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private Task<ImportResult> ImportAsync(string csv) =>
        new InvoiceImport(_factory, TimeProvider.System).ImportAsync(new MemoryStream(Encoding.UTF8.GetBytes(csv)), CancellationToken.None);

    private async Task<List<Keystone.Data.Revenue.InvoiceLine>> LinesAsync()
    {
        await using var db = _factory.ForSystem();
        return await db.InvoiceLines.AsNoTracking().ToListAsync();
    }

    [Fact]
    public async Task ImportAsync_ValidFile_StoresLinesBySlugNameAndId()
    {
        var result = await ImportAsync($"customer,period,amount,currency\n{_acmeSlug},2026-11,120.00,USD\nGlobex,2026-11-01,15.5,usd\n{MarginData.Acme},2026-10,\"99\",USD\n");

        Assert.True(result.Succeeded);
        Assert.Equal(3, result.Imported);
        var lines = await LinesAsync();
        Assert.Equal(120_000_000, lines.Single(l => l.TenantId == MarginData.Acme && l.PeriodStartUtc.Month == 11).AmountMicros);
        Assert.Equal(15_500_000, lines.Single(l => l.TenantId == MarginData.Globex).AmountMicros);
        Assert.Equal(99_000_000, lines.Single(l => l.PeriodStartUtc.Month == 10).AmountMicros);
    }

    [Fact]
    public async Task ImportAsync_BadRows_ListsEachByRowNumberAndStoresNothing()
    {
        var result = await ImportAsync($"customer,period,amount,currency\n{_acmeSlug},2026-11,120.00,USD\nnobody,2026-11,1,USD\n{_acmeSlug},November,1,USD\n{_acmeSlug},2026-11,1,EUR\n{_acmeSlug},2026-11,12abc,USD\n");

        Assert.False(result.Succeeded);
        Assert.Equal([3, 4, 5, 6], result.Errors.Select(e => e.Row));
        Assert.Contains("matches no tenant", result.Errors[0].Message, StringComparison.Ordinal);
        Assert.Contains("not a month", result.Errors[1].Message, StringComparison.Ordinal);
        Assert.Contains("only USD", result.Errors[2].Message, StringComparison.Ordinal);
        Assert.Contains("not a dollar amount", result.Errors[3].Message, StringComparison.Ordinal);
        Assert.Empty(await LinesAsync());
    }

    [Fact]
    public async Task ImportAsync_MissingColumn_FailsOnTheHeader()
    {
        var result = await ImportAsync("customer,amount,currency\nacme,1,USD\n");

        Assert.Equal(1, Assert.Single(result.Errors).Row);
        Assert.Contains("period", result.Errors[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportAsync_SameMonthAgain_ReplacesInsteadOfDoubling()
    {
        await ImportAsync($"customer,period,amount,currency\n{_acmeSlug},2026-11,100,USD\n{_acmeSlug},2026-11,20,USD\n");

        var again = await ImportAsync($"customer,period,amount,currency\n{_acmeSlug},2026-11,130,USD\n");

        Assert.Equal(2, again.ReplacedLines);
        Assert.Equal(130_000_000, (await LinesAsync()).Sum(l => l.AmountMicros));
    }

    [Fact]
    public async Task ImportAsync_FileTooLarge_IsRefusedWithoutReadingRows()
    {
        var big = "customer,period,amount,currency\n" + string.Concat(Enumerable.Repeat($"{_acmeSlug},2026-11,1,USD\n", 60_000));

        var result = await ImportAsync(big);

        Assert.False(result.Succeeded);
        Assert.Contains("larger than", Assert.Single(result.Errors).Message, StringComparison.Ordinal);
        Assert.Empty(await LinesAsync());
    }

    [Fact]
    public async Task ImportAsync_InvoicedMonth_BecomesTheTenantsRevenue()
    {
        await RollupTestData.Job(_factory).RunAsync(CancellationToken.None);

        await ImportAsync($"customer,period,amount,currency\n{_acmeSlug},2026-11,250,USD\n");
        var rows = await new MarginQueries(new ScopedFactory(_factory, TenantScope.All))
            .TenantsAsync(new ReportRange(MarginData.Nov1, MarginData.Nov1.AddMonths(1)), CancellationToken.None);

        Assert.Equal(250_000_000, rows.Single(r => r.TenantId == MarginData.Acme).RevenueMicros);
    }

    [Fact]
    public void CsvRows_QuotedFields_KeepCommasQuotesAndLineBreaks()
    {
        var rows = InvoiceImport.CsvRows("a,b\r\n\"x, y\",\"say \"\"hi\"\"\nthere\"\n").ToList();

        Assert.Equal(2, rows.Count);
        Assert.Equal(["x, y", "say \"hi\"\nthere"], rows[1].Fields);
        Assert.Equal(2, rows[1].Number);
    }
}
