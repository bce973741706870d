namespace Keystone.Web.Features.Margin;

/// <summary>The editable assumptions of a projection (the page starts them at the observed values).</summary>
internal sealed class ProjectionAssumptions
{
    /// <summary>Platform-paid inference cost per monthly active user, micro-USD.</summary>
    public long CostPerActiveUserMicros { get; set; }

    /// <summary>Revenue per monthly active user, micro-USD.</summary>
    public long RevenuePerActiveUserMicros { get; set; }

    /// <summary>Share of calls answered by a cache (0..0.99).</summary>
    public double CacheHitRate { get; set; }

    /// <summary>Share of calls on the <c>fast</c> alias (0..1).</summary>
    public double FastShare { get; set; }
}

/// <summary>One projected point.</summary>
internal sealed record ProjectionPoint(long MonthlyActiveUsers, long CostMicros, long RevenueMicros)
{
    public long MarginMicros => RevenueMicros - CostMicros;

    public double? MarginRatio => RevenueMicros == 0 ? null : (double)MarginMicros / RevenueMicros;
}

/// <summary>
/// Projects monthly cost and margin at a number of monthly active users from the observed cost per active
/// user, adjusted for a different cache hit rate (hits cost nothing) and a different share of traffic on
/// the <c>fast</c> alias (at the observed cost per call of fast and of other calls). Linear in users: it
/// assumes new users behave like the observed ones (same feature mix), which the page states.
/// </summary>
internal static class Projection
{
    public static readonly IReadOnlyList<long> Scales = [1_000, 10_000, 100_000];

    /// <summary>Starting assumptions from what was observed (cost and revenue scaled to a 30-day month).</summary>
    public static ProjectionAssumptions Observed(ProjectionBase b)
    {
        var monthFactor = b.Days == 0 ? 0 : 30m / b.Days;
        return new ProjectionAssumptions
        {
            CostPerActiveUserMicros = b.ActiveUsers == 0 ? 0 : (long)(b.CostMicros * monthFactor / b.ActiveUsers),
            RevenuePerActiveUserMicros = b.ActiveUsers == 0 ? 0 : (long)(b.RevenueMicros * monthFactor / b.ActiveUsers),
            CacheHitRate = b.Calls == 0 ? 0 : Math.Round((double)b.CacheHits / b.Calls, 3),
            FastShare = b.Calls == 0 ? 0 : Math.Round((double)b.FastCalls / b.Calls, 3),
        };
    }

    /// <summary>The cost multiplier the assumptions imply against what was observed (1 when unchanged).</summary>
    public static double CostFactor(ProjectionBase b, ProjectionAssumptions a)
    {
        var observed = Observed(b);
        var cache = (1 - Math.Clamp(a.CacheHitRate, 0, 0.99)) / (1 - Math.Clamp(observed.CacheHitRate, 0, 0.99));

        var otherCalls = b.Calls - b.FastCalls;
        if (b.FastCalls == 0 || otherCalls == 0)
        {
            // Without both kinds observed there is no price difference to apply.
            return cache;
        }

        var fastPerCall = (double)b.FastCostMicros / b.FastCalls;
        var otherPerCall = (double)(b.CostMicros - b.FastCostMicros) / otherCalls;
        var observedMix = observed.FastShare * fastPerCall + (1 - observed.FastShare) * otherPerCall;
        var mix = Math.Clamp(a.FastShare, 0, 1) * fastPerCall + (1 - Math.Clamp(a.FastShare, 0, 1)) * otherPerCall;
        return observedMix <= 0 ? cache : cache * mix / observedMix;
    }

    public static IReadOnlyList<ProjectionPoint> At(ProjectionBase b, ProjectionAssumptions a)
    {
        var factor = CostFactor(b, a);
        return Scales.Select(users => new ProjectionPoint(users,
            (long)Math.Round(users * (double)a.CostPerActiveUserMicros * factor),
            users * a.RevenuePerActiveUserMicros)).ToList();
    }
}
