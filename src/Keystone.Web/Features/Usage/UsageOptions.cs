using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// The <c>Dashboards</c> configuration section: how fresh the usage numbers are. The section keeps the name it had
/// when the rollup lived with the dashboard, so existing configuration and environment variables still apply.
/// </summary>
internal sealed class UsageOptions
{
    public const string SectionName = "Dashboards";

    /// <summary>Cron of the usage rollup job. Defaults to every 5 minutes.</summary>
    [Required]
    public string RollupCron { get; set; } = "*/5 * * * *";

    /// <summary>Seconds between refreshes of the usage page. Defaults to 30.</summary>
    [Range(5, 3600)]
    public int UsageRefreshSeconds { get; set; } = 30;
}
