using System.Globalization;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Playground;

/// <summary>Gateway errors in words a playground user can act on.</summary>
internal static class PlainWords
{
    /// <summary>
    /// A sentence for the error. A budget refusal is rewritten from its numbers (<see cref="GatewayError.Cap"/>): money as
    /// money, the reset in the reader's time zone (<paramref name="zone"/>; UTC, said so, when the browser's is not known
    /// yet), and what to do.
    /// </summary>
    public static string For(GatewayError error, TimeZoneInfo? zone = null, DateTime? nowUtc = null) => error.Code switch
    {
        GatewayErrorCodes.BudgetExceeded when error.Cap is { } cap => Budget(cap, zone, nowUtc ?? DateTime.UtcNow),
        GatewayErrorCodes.BudgetExceeded => error.Message,
        GatewayErrorCodes.RateLimitExceeded => error.RetryAfter is { } wait
            ? $"{error.Message} Try again in {Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))} s."
            : error.Message,
        GatewayErrorCodes.UpstreamUnavailable => "No model provider could answer right now. Your message is kept; try again in a moment or pick another model.",
        GatewayErrorCodes.UpstreamError => $"The model provider returned an error: {error.Message}",
        GatewayErrorCodes.StreamInterrupted => "The answer was cut off: the provider's stream broke after it started. The partial answer is kept.",
        GatewayErrorCodes.ModelNotAllowed => $"This model is not allowed for your workspace. {error.Message}",
        GatewayErrorCodes.ModelNotFound => $"This model does not exist. {error.Message}",
        GatewayErrorCodes.InvalidRequest => $"The request was not accepted: {error.Message}",
        GatewayErrorCodes.ModelNotPriced =>
            $"This model has no price, and this platform does not run models it cannot charge for. Pick another model, or ask a platform admin to price it. ({error.Message})",
        GatewayErrorCodes.BudgetUnavailable =>
            "The spending caps could not be checked just now (the database did not answer), so nothing was sent and nothing was charged. Try again in a moment.",
        GatewayErrorCodes.OutputLimitExceeded =>
            "The answer was stopped at the max tokens it was allowed: the part above is kept. Raise max tokens in the settings to get longer answers.",
        ApiErrors.DatabaseBusy => "Keystone is busy right now and could not save this. Nothing was changed; try again in a few seconds.",
        GatewayErrorCodes.Conflict => "Someone else changed this at the same moment, so this change was not saved. Reload to see the latest, then try again.",
        _ => error.Message,
    };

    /// <summary>"The call's worst case … is more than the $0.0009 left of the tenant day cap …. Send it with … It resets …".</summary>
    private static string Budget(BudgetCapRefusal cap, TimeZoneInfo? zone, DateTime nowUtc)
    {
        var reason = cap.Reason();
        return $"Not sent: {reason}. {cap.Advice()} The cap resets {When(cap.ResetsAtUtc, zone, nowUtc)}, in {BudgetCapRefusal.Wait(cap.ResetsAtUtc - nowUtc)}.";
    }

    /// <summary>
    /// A UTC time in the reader's zone: "at 01:00 (Europe/Paris) tomorrow", "at 00:00 on Tue 1 Dec (America/New_York)",
    /// or "at 00:00 UTC" when the zone is not known.
    /// </summary>
    public static string When(DateTime utc, TimeZoneInfo? zone, DateTime nowUtc)
    {
        var inv = CultureInfo.InvariantCulture;
        var z = zone ?? TimeZoneInfo.Utc;
        var local = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(utc, DateTimeKind.Utc), z);
        var today = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(nowUtc, DateTimeKind.Utc), z).Date;
        var name = zone is null || zone == TimeZoneInfo.Utc ? "UTC" : $"your time, {zone.Id}";
        var day = (local.Date - today).Days switch
        {
            0 => "today",
            1 => "tomorrow",
            _ => "on " + local.ToString("ddd d MMM", inv),
        };
        return $"at {local.ToString("HH:mm", inv)} {day} ({name})";
    }
}
