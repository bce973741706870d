using System.Globalization;

namespace Keystone.Gateway.Budgets;

/// <summary>The stored and wire spellings of budget enums (<c>tenant</c>, <c>apiKey</c>, <c>day</c>, <c>degrade</c>).</summary>
internal static class BudgetText
{
    public static string Of(BudgetScope scope) => scope switch
    {
        BudgetScope.Tenant => "tenant",
        BudgetScope.User => "user",
        BudgetScope.Feature => "feature",
        _ => "apiKey",
    };

    public static string Of(BudgetPeriod period) => period == BudgetPeriod.Day ? "day" : "month";

    public static string Of(BudgetAction action) => action == BudgetAction.Block ? "block" : "degrade";

    public static BudgetScope ParseScope(string s) => s switch
    {
        "tenant" => BudgetScope.Tenant,
        "user" => BudgetScope.User,
        "feature" => BudgetScope.Feature,
        _ => BudgetScope.ApiKey,
    };

    public static BudgetPeriod ParsePeriod(string s) => s == "month" ? BudgetPeriod.Month : BudgetPeriod.Day;

    public static BudgetAction ParseAction(string s) => s == "degrade" ? BudgetAction.Degrade : BudgetAction.Block;

    public static IReadOnlyList<int> ParseThresholds(string s) => s
        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(x => int.Parse(x, CultureInfo.InvariantCulture)).Order().ToList();

    public static string FormatThresholds(IEnumerable<int> t) => string.Join(',', t.Distinct().Order());

    /// <summary>Start of the period containing <paramref name="nowUtc"/>: 00:00 UTC, or the 1st of the month.</summary>
    public static DateTime PeriodStart(BudgetPeriod period, DateTime nowUtc) => period == BudgetPeriod.Day
        ? new DateTime(nowUtc.Year, nowUtc.Month, nowUtc.Day, 0, 0, 0, DateTimeKind.Utc)
        : new DateTime(nowUtc.Year, nowUtc.Month, 1, 0, 0, 0, DateTimeKind.Utc);

    public static DateTime PeriodEnd(BudgetPeriod period, DateTime start) => period == BudgetPeriod.Day ? start.AddDays(1) : start.AddMonths(1);

    /// <summary>Micro-USD as dollars for messages (<c>$0.050000</c>).</summary>
    public static string Usd(long micros) => (micros / 1_000_000m).ToString("$0.000000", CultureInfo.InvariantCulture);
}
