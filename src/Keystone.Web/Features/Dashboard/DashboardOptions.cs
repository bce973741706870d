using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Dashboard;

/// <summary>The <c>Dashboards</c> configuration section.</summary>
public sealed class DashboardOptions
{
    public const string SectionName = "Dashboards";

    /// <summary>Cron of the usage rollup job. Defaults to every 5 minutes.</summary>
    [Required]
    public string RollupCron { get; set; } = "*/5 * * * *";

    /// <summary>
    /// How far before the watermark each run looks again, for calls whose transaction committed after a
    /// later one. Defaults to 2 minutes (the recorder writes batches within milliseconds).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan WatermarkOverlap { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Seconds between refreshes of the usage page. Defaults to 30.</summary>
    [Range(5, 3600)]
    public int UsageRefreshSeconds { get; set; } = 30;
}
