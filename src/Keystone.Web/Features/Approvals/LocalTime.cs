using System.Globalization;

namespace Keystone.Web.Features.Approvals;

/// <summary>Times in the reader's time zone (the browser tells the page its IANA name), with the zone named.</summary>
internal static class LocalTime
{
    public static string Format(DateTime utc, TimeZoneInfo zone)
    {
        var local = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(utc, DateTimeKind.Utc), zone);
        var name = zone == TimeZoneInfo.Utc ? "UTC" : zone.IsDaylightSavingTime(local) ? Abbreviation(zone.DaylightName, zone.Id) : Abbreviation(zone.StandardName, zone.Id);
        return local.ToString("d MMM HH:mm", CultureInfo.InvariantCulture) + " " + name;
    }

    /// <summary>The zone for an IANA id from the browser; UTC when it is unknown here.</summary>
    public static TimeZoneInfo Zone(string? id)
        => !string.IsNullOrWhiteSpace(id) && TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone) ? zone : TimeZoneInfo.Utc;

    // ICU names ("Central European Standard Time") are long; the IANA id ("Europe/Paris") reads better beside a time.
    private static string Abbreviation(string name, string id) => id.Contains('/', StringComparison.Ordinal) ? id : name;
}
