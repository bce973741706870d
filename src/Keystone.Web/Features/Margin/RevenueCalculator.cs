namespace Keystone.Web.Features.Margin;

/// <summary>What a tenant pays, as the revenue rules need it.</summary>
/// <param name="TenantId">The tenant.</param>
/// <param name="MonthlyPriceMicros">Contract price when set, else the plan's monthly price.</param>
/// <param name="IncludedUsageMicros">Inference cost included in the price each month.</param>
/// <param name="OverageMarkupBasisPoints">Markup over cost billed above the included usage (0: overage not billed).</param>
internal sealed record TenantPricing(Guid TenantId, long MonthlyPriceMicros, long IncludedUsageMicros, int OverageMarkupBasisPoints);

/// <summary>
/// Revenue per tenant per day (docs/decisions/0011-revenue-and-margin.md). For each month, a tenant's
/// revenue is its imported invoice lines when there are any, otherwise the subscription price plus billed
/// overage (cost above the included usage, times 1 + markup). A range that covers part of a month gets
/// that part's share: the subscription and the included usage pro rata by days, the overage on the cost
/// inside the range. Day amounts are spread so that they add up exactly to the month part's amount
/// (the last day takes the rounding remainder), so any total read from days equals the range total.
/// </summary>
internal static class RevenueCalculator
{
    /// <param name="pricing">Pricing of each tenant.</param>
    /// <param name="billableCostByDay">Platform-paid inference cost per tenant and UTC day (BYOK excluded).</param>
    /// <param name="invoicedByMonth">Imported invoice totals per tenant and month start.</param>
    /// <param name="fromUtc">First day of the range (00:00 UTC).</param>
    /// <param name="toUtc">End of the range, exclusive (00:00 UTC).</param>
    public static Dictionary<(Guid TenantId, DateTime Day), long> ByDay(
        IEnumerable<TenantPricing> pricing,
        IReadOnlyDictionary<(Guid TenantId, DateTime Day), long> billableCostByDay,
        IReadOnlyDictionary<(Guid TenantId, DateTime MonthStart), long> invoicedByMonth,
        DateTime fromUtc, DateTime toUtc)
    {
        var result = new Dictionary<(Guid, DateTime), long>();
        foreach (var tenant in pricing)
        {
            for (var monthStart = new DateTime(fromUtc.Year, fromUtc.Month, 1, 0, 0, 0, DateTimeKind.Utc);
                 monthStart < toUtc;
                 monthStart = monthStart.AddMonths(1))
            {
                var monthEnd = monthStart.AddMonths(1);
                var partStart = monthStart < fromUtc ? fromUtc.Date : monthStart;
                var partEnd = monthEnd > toUtc ? toUtc.Date : monthEnd;
                var days = Enumerable.Range(0, (int)(partEnd - partStart).TotalDays)
                    .Select(i => DateTime.SpecifyKind(partStart.AddDays(i), DateTimeKind.Utc)).ToList();
                if (days.Count == 0)
                {
                    continue;
                }

                var daysInMonth = DateTime.DaysInMonth(monthStart.Year, monthStart.Month);
                var dayCosts = days.Select(d => billableCostByDay.GetValueOrDefault((tenant.TenantId, d))).ToList();
                var partCost = dayCosts.Sum();

                long fixedPart;
                long overage = 0;
                if (invoicedByMonth.TryGetValue((tenant.TenantId, monthStart), out var invoiced))
                {
                    fixedPart = Prorate(invoiced, days.Count, daysInMonth);
                }
                else
                {
                    fixedPart = Prorate(tenant.MonthlyPriceMicros, days.Count, daysInMonth);
                    var included = Prorate(tenant.IncludedUsageMicros, days.Count, daysInMonth);
                    if (tenant.OverageMarkupBasisPoints > 0 && partCost > included)
                    {
                        overage = (long)((Int128)(partCost - included) * (10_000 + tenant.OverageMarkupBasisPoints) / 10_000);
                    }
                }

                Spread(result, tenant.TenantId, days, fixedPart, Enumerable.Repeat(1L, days.Count).ToList());
                if (overage > 0)
                {
                    Spread(result, tenant.TenantId, days, overage, dayCosts);
                }
            }
        }

        return result;
    }

    /// <summary>The share of a monthly amount for some of its days, rounded toward zero.</summary>
    public static long Prorate(long monthly, int days, int daysInMonth) => (long)((Int128)monthly * days / daysInMonth);

    // Spreads an amount over days by weight; the last day with weight takes the remainder, so the parts add up exactly.
    private static void Spread(Dictionary<(Guid, DateTime), long> into, Guid tenantId, List<DateTime> days, long amount,
        List<long> weights)
    {
        var totalWeight = weights.Sum();
        if (totalWeight == 0)
        {
            return;
        }

        var lastWeighted = weights.FindLastIndex(w => w > 0);
        long given = 0;
        for (var i = 0; i < days.Count; i++)
        {
            var part = i == lastWeighted ? amount - given : (long)((Int128)amount * weights[i] / totalWeight);
            given += part;
            var key = (tenantId, days[i]);
            into[key] = into.GetValueOrDefault(key) + part;
        }
    }
}
