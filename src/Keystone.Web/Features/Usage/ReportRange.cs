using System.Diagnostics.CodeAnalysis;

namespace Keystone.Web.Features.Usage;

/// <summary>A range of whole UTC days, [<see cref="FromUtc"/>, <see cref="ToUtc"/>).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (RangePicker.Range and ProjectionPanel.Range): Razor components are public and Blazor parameters must be public properties.")]
public sealed record ReportRange
{
    public ReportRange(DateTime fromUtc, DateTime toUtc)
    {
        FromUtc = DateTime.SpecifyKind(fromUtc.Date, DateTimeKind.Utc);
        ToUtc = DateTime.SpecifyKind(toUtc.Date, DateTimeKind.Utc);
        if (ToUtc <= FromUtc)
        {
            ToUtc = FromUtc.AddDays(1);
        }
    }

    public DateTime FromUtc { get; }

    public DateTime ToUtc { get; }

    /// <summary>Number of days covered.</summary>
    public int Days => (int)(ToUtc - FromUtc).TotalDays;

    /// <summary>Every day of the range.</summary>
    public IEnumerable<DateTime> EachDay() => Enumerable.Range(0, Days).Select(i => FromUtc.AddDays(i));

    /// <summary>The current month up to and including today.</summary>
    public static ReportRange MonthToDate(DateTime nowUtc) =>
        new(new DateTime(nowUtc.Year, nowUtc.Month, 1, 0, 0, 0, DateTimeKind.Utc), nowUtc.Date.AddDays(1));

    /// <summary>The last <paramref name="days"/> days including today.</summary>
    public static ReportRange LastDays(DateTime nowUtc, int days) => new(nowUtc.Date.AddDays(1 - days), nowUtc.Date.AddDays(1));

    /// <summary>From inclusive and to inclusive dates as a picker gives them.</summary>
    public static ReportRange FromPicker(DateTime fromDate, DateTime toDateInclusive) => new(fromDate, toDateInclusive.AddDays(1));
}
