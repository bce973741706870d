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

    private static bool TryDate(string? text, out DateTime date)
    {
        var ok = DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out date);
        date = DateTime.SpecifyKind(date, DateTimeKind.Utc);
        return ok && ReportingDates.Contains(date);
    }
}
