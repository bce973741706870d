using Keystone.Web.Features.Margin;

namespace Keystone.Web.Tests.Dashboards;

public sealed class RevenueCalculatorTests
{
    private static readonly Guid Tenant = Guid.NewGuid();
    private static readonly DateTime Nov1 = new(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);

    private static DateTime Day(int d) => Nov1.AddDays(d - 1);

    [Fact]
    public void ByDay_WholeMonthUnderIncludedUsage_IsTheMonthlyPriceExactly()
    {
        var pricing = new TenantPricing(Tenant, 99_000_000, 30_000_000, 2_000);
        var costs = new Dictionary<(Guid, DateTime), long> { [(Tenant, Day(3))] = 5_000_000 };

        var revenue = RevenueCalculator.ByDay([pricing], costs, new Dictionary<(Guid, DateTime), long>(), Nov1, Nov1.AddMonths(1));

        Assert.Equal(99_000_000, revenue.Values.Sum());
        Assert.Equal(30, revenue.Count);
    }

    [Fact]
    public void ByDay_CostAboveIncluded_BillsOverageWithMarkupOnTheDaysThatCostIt()
    {
        var pricing = new TenantPricing(Tenant, 99_000_000, 30_000_000, 2_000);
        var costs = new Dictionary<(Guid, DateTime), long> { [(Tenant, Day(10))] = 40_000_000, [(Tenant, Day(20))] = 10_000_000 };

        var revenue = RevenueCalculator.ByDay([pricing], costs, new Dictionary<(Guid, DateTime), long>(), Nov1, Nov1.AddMonths(1));

        // 50 cost − 30 included = 20 overage × 1.2 = 24, spread 4:1 over the two days that cost it.
        Assert.Equal(99_000_000 + 24_000_000, revenue.Values.Sum());
        Assert.Equal(3_300_000 + 19_200_000, revenue[(Tenant, Day(10))]);
        Assert.Equal(3_300_000 + 4_800_000, revenue[(Tenant, Day(20))]);
    }

    [Fact]
    public void ByDay_NoMarkup_DoesNotBillOverage()
    {
        var free = new TenantPricing(Tenant, 0, 1_000_000, 0);
        var costs = new Dictionary<(Guid, DateTime), long> { [(Tenant, Day(2))] = 9_000_000 };

        var revenue = RevenueCalculator.ByDay([free], costs, new Dictionary<(Guid, DateTime), long>(), Nov1, Nov1.AddMonths(1));

        Assert.Equal(0, revenue.Values.Sum());
    }

    [Fact]
    public void ByDay_InvoicedMonth_UsesInvoiceInsteadOfPlan()
    {
        var pricing = new TenantPricing(Tenant, 99_000_000, 0, 5_000);
        var costs = new Dictionary<(Guid, DateTime), long> { [(Tenant, Day(2))] = 500_000_000 };
        var invoiced = new Dictionary<(Guid, DateTime), long> { [(Tenant, Nov1)] = 120_000_000 };

        var revenue = RevenueCalculator.ByDay([pricing], costs, invoiced, Nov1, Nov1.AddMonths(1));

        Assert.Equal(120_000_000, revenue.Values.Sum());
    }

    [Fact]
    public void ByDay_PartialMonthsAcrossABoundary_ProrateByDaysAndStillAddUp()
    {
        var pricing = new TenantPricing(Tenant, 31_000_000, 0, 0);
        var from = new DateTime(2026, 10, 22, 0, 0, 0, DateTimeKind.Utc);
        var to = new DateTime(2026, 11, 4, 0, 0, 0, DateTimeKind.Utc);

        var revenue = RevenueCalculator.ByDay([pricing], new Dictionary<(Guid, DateTime), long>(), new Dictionary<(Guid, DateTime), long>(), from, to);

        // October: 10 of 31 days of $31 = $10; November: 3 of 30 days of $31 = $3.10.
        Assert.Equal(10_000_000 + 3_100_000, revenue.Values.Sum());
        Assert.Equal(13, revenue.Count);
        Assert.Equal(1_000_000, revenue[(Tenant, from)]);
    }

    [Fact]
    public void ByDay_AmountNotDivisibleByDays_LastDayTakesTheRemainder()
    {
        var pricing = new TenantPricing(Tenant, 1_000_001, 0, 0);

        var revenue = RevenueCalculator.ByDay([pricing], new Dictionary<(Guid, DateTime), long>(), new Dictionary<(Guid, DateTime), long>(), Nov1, Nov1.AddMonths(1));

        Assert.Equal(1_000_001, revenue.Values.Sum());
        Assert.Equal(33_333, revenue[(Tenant, Day(1))]);
        Assert.Equal(1_000_001 - 29 * 33_333, revenue[(Tenant, Day(30))]);
    }
}
