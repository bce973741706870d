using Keystone.Web.Features.Margin;

namespace Keystone.Web.Tests.Dashboards;

public sealed class ProjectionTests
{
    // 30 days, $300 cost, $600 revenue, 100 users, 1,000 calls with 200 cache hits; 400 fast calls costing $40 ($0.10 each), 600 others costing $260.
    private static readonly ProjectionBase Observed = new(30, 300_000_000, 600_000_000, 100, 1_000, 200, 400, 40_000_000, [("support-bot", 300_000_000)]);

    [Fact]
    public void At_ObservedAssumptions_ScalesCostPerUserLinearly()
    {
        var points = Projection.At(Observed, Projection.Observed(Observed));

        Assert.Equal([1_000L, 10_000L, 100_000L], points.Select(p => p.MonthlyActiveUsers));
        Assert.Equal(3_000_000_000, points[0].CostMicros);
        Assert.Equal(6_000_000_000, points[0].RevenueMicros);
        Assert.Equal(300_000_000_000, points[2].CostMicros);
        Assert.Equal(0.5, points[1].MarginRatio!.Value, 6);
    }

    [Fact]
    public void At_HigherCacheHitRate_CutsCostInProportionToMissesLeft()
    {
        var a = Projection.Observed(Observed);
        a.CacheHitRate = 0.6;

        var cost = Projection.At(Observed, a)[0].CostMicros;

        // Misses go from 80 % to 40 %: half the cost.
        Assert.Equal(1_500_000_000, cost);
    }

    [Fact]
    public void At_AllTrafficOnFast_CostsTheFastPricePerCall()
    {
        var a = Projection.Observed(Observed);
        a.FastShare = 1;

        var factor = Projection.CostFactor(Observed, a);

        // Observed mix per call: 0.4 × 0.10 + 0.6 × 0.4333 = 0.30; all fast: 0.10 → a third.
        Assert.Equal(1 / 3.0, factor, 6);
    }

    [Fact]
    public void Observed_MonthFromAShorterRange_ScalesToThirtyDays()
    {
        var tenDays = Observed with { Days = 10 };

        var a = Projection.Observed(tenDays);

        Assert.Equal(9_000_000, a.CostPerActiveUserMicros);
        Assert.Equal(0.2, a.CacheHitRate);
        Assert.Equal(0.4, a.FastShare);
    }
}
