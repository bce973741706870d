using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Keys;

/// <summary>The <c>ApiKeys</c> configuration section.</summary>
internal sealed class ApiKeysOptions
{
    public const string SectionName = "ApiKeys";

    /// <summary>How long a key lookup (found or not) is cached in memory; also how long a revoked key may keep working on other instances. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan LookupCacheTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the coalesced "last used" times are written. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan LastUsedFlushInterval { get; set; } = TimeSpan.FromSeconds(10);
}
