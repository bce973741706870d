using Keystone.Gateway;
using Keystone.Web.Components.Shared;

namespace Keystone.Web.Features.Playground;

/// <summary>What the playground says about the caps that apply to its calls.</summary>
/// <param name="Text">The sentence shown.</param>
/// <param name="AtCap">True when a blocking cap is reached: the send button gives way to <paramref name="Text"/>.</param>
internal sealed record BudgetNotice(string Text, bool AtCap)
{
    /// <summary>The threshold used when the tenant configured none below 100 %.</summary>
    public const int DefaultSoftThresholdPercent = 80;

    /// <summary>
    /// The notice for a user of the playground: the tenant's caps, the user's own caps and the <c>playground</c>
    /// feature caps. Null when every cap is below the soft threshold.
    /// </summary>
    /// <param name="budget">The tenant's caps.</param>
    /// <param name="userId">The reader.</param>
    /// <param name="feature">The playground's feature label.</param>
    /// <param name="zone">The reader's time zone (null: UTC, said so).</param>
    /// <param name="nowUtc">Now, for "today" and "tomorrow".</param>
    public static BudgetNotice? From(TenantBudget budget, string? userId, string feature, TimeZoneInfo? zone = null, DateTime? nowUtc = null)
    {
        var caps = budget.Caps.Where(c => c.Scope switch
        {
            BudgetScope.Tenant => true,
            BudgetScope.User => c.Key == userId,
            BudgetScope.Feature => c.Key == feature,
            _ => false,
        }).ToList();
        if (caps.Count == 0)
        {
            return null;
        }

        var now = nowUtc ?? DateTime.UtcNow;

        // Spent only: reservations are in-flight calls (perhaps this page's own) and settle within seconds.
        var reached = caps.Where(c => c.LimitMicros > 0 && c.SpentMicros >= c.LimitMicros)
            .OrderBy(c => c.ResetsAtUtc).LastOrDefault();
        if (reached is not null)
        {
            return budget.ActionAtLimit == BudgetAction.Block
                ? new BudgetNotice($"{Describe(reached)} of {MoneyText.Format(reached.LimitMicros)} is reached ({MoneyText.Format(reached.SpentMicros)} spent). "
                    + $"Sending is paused until it resets {PlainWords.When(reached.ResetsAtUtc, zone, now)}.", true)
                : new BudgetNotice($"{Describe(reached)} of {MoneyText.Format(reached.LimitMicros)} is reached: answers now come from a cheaper model "
                    + $"until it resets {PlainWords.When(reached.ResetsAtUtc, zone, now)}.", false);
        }

        var threshold = budget.SoftThresholdsPercent.Where(p => p is > 0 and < 100).DefaultIfEmpty(DefaultSoftThresholdPercent).Max();
        var worst = caps.Where(c => c.LimitMicros > 0).OrderByDescending(c => (double)c.SpentMicros / c.LimitMicros).FirstOrDefault();
        if (worst is null || worst.SpentMicros * 100 < worst.LimitMicros * threshold)
        {
            return null;
        }

        var percent = (int)(worst.SpentMicros * 100 / worst.LimitMicros);
        return new BudgetNotice($"{Describe(worst)} is at {percent} % ({MoneyText.Format(worst.SpentMicros)} of {MoneyText.Format(worst.LimitMicros)}); "
            + $"it resets {PlainWords.When(worst.ResetsAtUtc, zone, now)}.", false);
    }

    private static string Describe(BudgetCapStatus cap)
    {
        var period = cap.Period == BudgetPeriod.Day ? "daily" : "monthly";
        return cap.Scope switch
        {
            BudgetScope.Tenant => $"The workspace's {period} cap",
            BudgetScope.User => $"Your {period} cap",
            BudgetScope.Feature => $"The {period} cap for the {cap.Key} feature",
            _ => $"The {period} cap",
        };
    }
}
