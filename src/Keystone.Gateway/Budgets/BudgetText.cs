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

    /// <summary>
    /// Micro-USD as money a person reads: cents for $1 and more (<c>$12.50</c>), else the digits the amount needs
    /// (<c>$0.002</c>, <c>$0.0011</c>, <c>$0.000042</c>), never micro-USD.
    /// </summary>
    public static string Money(long micros) => MicroUsd.Format(micros);

    /// <summary>A wait in words: <c>23 h 5 min</c>, <c>12 min</c>, <c>40 s</c>; days for a month cap.</summary>
    public static string Wait(TimeSpan wait)
    {
        if (wait <= TimeSpan.Zero)
        {
            return "a moment";
        }

        if (wait.TotalDays >= 2)
        {
            return $"{(int)Math.Round(wait.TotalDays)} days";
        }

        if (wait.TotalHours >= 1)
        {
            return wait.Minutes == 0 ? $"{(int)wait.TotalHours} h" : $"{(int)wait.TotalHours} h {wait.Minutes} min";
        }

        return wait.TotalMinutes >= 1 ? $"{(int)Math.Ceiling(wait.TotalMinutes)} min" : $"{Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))} s";
    }

    /// <summary>The cap as people name it: "the tenant day cap", "the user 'ana' month cap".</summary>
    public static string CapName(BudgetScope scope, string? key, BudgetPeriod period)
        => $"the {(scope == BudgetScope.ApiKey ? "API key" : Of(scope))}{(string.IsNullOrEmpty(key) ? "" : $" '{key}'")} {Of(period)} cap";

    /// <summary>
    /// Why a cap refused, in the words of the reservation rule (the stored last reason, and the start of every message):
    /// "this call's worst case ($0.0012: the prompt plus max tokens at the model's price) is more than the $0.0009 left of
    /// the tenant day cap ($0.002, $0.0011 spent)".
    /// </summary>
    public static string Reason(BudgetCapRefusal r)
        => $"the call's worst case ({Money(r.WorstCaseMicros)}: the prompt plus max tokens at the model's price) is more than the "
            + $"{Money(r.LeftMicros)} left of {CapName(r.Scope, r.Key, r.Period)} ({Money(r.LimitMicros)}; {Money(r.SpentMicros)} spent"
            + (r.ReservedMicros > 0 ? $", {Money(r.ReservedMicros)} held by calls in flight" : "") + ")";

    /// <summary>What the caller can do: a smaller max tokens when one would fit, else wait for the reset or ask an admin.</summary>
    public static string Advice(BudgetCapRefusal r) => r.FitsOutputTokens is { } n
        ? $"Send it with max_tokens of about {n} or less, or ask a tenant admin to raise the cap."
        : "No answer length fits what is left: wait for the reset, or ask a tenant admin to raise the cap.";

    /// <summary>
    /// The gateway's refusal message (the API's): times in UTC, said so, with the wait that <c>Retry-After</c> carries.
    /// The console rewrites the time in the reader's zone from <see cref="GatewayError.Cap"/>.
    /// </summary>
    public static string RefusalMessage(BudgetCapRefusal r, DateTime nowUtc)
        => $"Budget exceeded: {Reason(r)}. {Advice(r)} The cap resets at "
            + r.ResetsAtUtc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)
            + $" UTC, in {Wait(r.ResetsAtUtc - nowUtc)} (Retry-After gives that wait in seconds).";
}
