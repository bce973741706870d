using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace Keystone.Web.Platform.Http;

/// <summary>Query parameters several API routes share, each refused with a 400 naming it.</summary>
internal static class ApiQuery
{
    /// <summary>The <c>from</c> / <c>to</c> query window: up to now and the 30 days before it unless given; from before to.</summary>
    public static (DateTime From, DateTime To) RangeOf(IQueryCollection query, TimeProvider clock)
    {
        var to = ParseTime(query["to"], "to") ?? clock.GetUtcNow().UtcDateTime;
        var from = ParseTime(query["from"], "from") ?? to.AddDays(-30);
        return from < to ? (from, to) : throw ApiException.Invalid("from", "from must be before to.");
    }

    /// <summary>An ISO 8601 date or time, read as UTC; null when the parameter is absent.</summary>
    public static DateTime? ParseTime(StringValues value, string name)
    {
        var text = value.ToString();
        if (text.Length == 0)
        {
            return null;
        }

        if (!DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time))
        {
            throw ApiException.Invalid(name, $"{name} must be an ISO 8601 date or time (UTC), e.g. 2026-11-01 or 2026-11-01T00:00:00Z.");
        }

        time = DateTime.SpecifyKind(time, DateTimeKind.Utc);
        return ReportingDates.Contains(time)
            ? time
            : throw ApiException.Invalid(name, $"{name} must be a date {ReportingDates.Window}.");
    }
}
