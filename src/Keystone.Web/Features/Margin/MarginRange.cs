using System.Globalization;
using Keystone.Web.Platform;
using Keystone.Web.Features.Usage;

namespace Keystone.Web.Features.Margin;

/// <summary>The margin pages' range in the address, so the drill-down and the way back keep what the founder chose.</summary>
internal static class MarginRange
{
    /// <summary>
    /// The range named by <c>from</c> and <c>to</c> (yyyy-MM-dd, both inclusive, at most two years apart, within the
    /// reporting window), or null when they are absent or not such a range (the page then shows its default).
    /// </summary>
    public static ReportRange? FromQuery(string? from, string? to)
    {
        if (!TryDate(from, out var f) || !TryDate(to, out var t) || t < f || (t - f).TotalDays > 731)
        {
            return null;
        }

        return ReportRange.FromPicker(f, t);
    }

    /// <summary>
    /// The calendar months a range covers part of ("November and December", "October, November and December"), or null
    /// when it lies inside one month. Each month part is billed on its own (docs/decisions/0011): its share of the plan's
    /// price and of the included usage, overage above that share. So a range across a month's start can show another
    /// margin than the same number of days inside one month, and the page says so.
    /// </summary>
    public static string? MonthsSpanned(ReportRange range)
    {
        var last = range.ToUtc.AddDays(-1);
        var months = new List<string>();
        for (var m = new DateTime(range.FromUtc.Year, range.FromUtc.Month, 1, 0, 0, 0, DateTimeKind.Utc); m <= last; m = m.AddMonths(1))
        {
            months.Add(m.ToString(m.Year == last.Year && m.Year == range.FromUtc.Year ? "MMMM" : "MMMM yyyy", CultureInfo.InvariantCulture));
        }

        return months.Count switch
        {
            < 2 => null,
            2 => $"{months[0]} and {months[1]}",
            > 4 => $"{months.Count} months, {months[0]} to {months[^1]}",
            _ => $"{string.Join(", ", months[..^1])} and {months[^1]}",
        };
    }

    private static bool TryDate(string? text, out DateTime date)
    {
        var ok = DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out date);
        date = DateTime.SpecifyKind(date, DateTimeKind.Utc);
        return ok && ReportingDates.Contains(date);
    }
}
