namespace Keystone.Web.Platform;

/// <summary>
/// The dates a query string may name (API ranges, console filters, exports). Ranges are widened by days and months
/// (30-day defaults, whole days, partial buckets), and <see cref="DateTime"/> ends at year 1 and 9999: a date near
/// either end would overflow that arithmetic, so dates outside this window are refused (API) or ignored (console
/// filters) instead of reaching it. No call can have been made outside it.
/// </summary>
internal static class ReportingDates
{
    /// <summary>The earliest date accepted: 2000-01-01 (UTC).</summary>
    public static readonly DateTime MinUtc = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>The first date no longer accepted: 2100-01-01 (UTC).</summary>
    public static readonly DateTime EndUtc = new(2100, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>The window in words, for error messages.</summary>
    public const string Window = "from 2000-01-01 up to (not including) 2100-01-01, UTC";

    public static bool Contains(DateTime utc) => utc >= MinUtc && utc < EndUtc;
}
