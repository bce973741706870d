using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Components.Account;

/// <summary>
/// The <c>SignIn</c> configuration section: how many failed sign-ins one client address may make before the sign-in
/// form stops checking passwords from it for a while. Account lockout (5 failures, 5 minutes) stays; this bounds how
/// many accounts one address can lock, and how fast it can guess.
/// </summary>
internal sealed class SignInThrottleOptions
{
    public const string SectionName = "SignIn";

    /// <summary>Failed sign-ins one client address may make within <see cref="FailureWindow"/>. Default 20.</summary>
    [Range(1, 100_000)]
    public int MaxFailuresPerAddress { get; set; } = 20;

    /// <summary>The sliding window the failures are counted in; the address may try again once its oldest failure leaves it. Default 15 minutes.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(15);
}
