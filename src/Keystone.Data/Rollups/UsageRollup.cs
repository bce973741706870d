using Keystone.Data.Calls;

namespace Keystone.Data.Rollups;

/// <summary>
/// Calls aggregated into one hour or one day by tenant × feature × alias × provider × model × billed-to.
/// Dashboards read these, never raw calls. Rows are replaced (delete + insert) whole buckets at a time by
/// the rollup job, so every column is a plain sum and any set of rows can be summed again in SQL.
/// Latency and time-to-first-token are kept as counts in fixed buckets (<see cref="LatencyHistogram"/>),
/// so percentiles can be read from any sum of rows.
/// </summary>
public sealed class UsageRollup : ITenantOwned
{
    public long Id { get; set; }

    public Guid TenantId { get; set; }

    public RollupGrain Grain { get; set; }

    /// <summary>Start of the hour or day (UTC).</summary>
    public DateTime BucketStartUtc { get; set; }

    public string Feature { get; set; } = "";

    /// <summary>What the caller asked for (<c>fast</c>, <c>smart</c>, or a raw <c>provider/model</c>).</summary>
    public string Alias { get; set; } = "";

    /// <summary>Provider that answered; empty when none did (rejections, some errors).</summary>
    public string Provider { get; set; } = "";

    /// <summary>Provider model that answered; empty when none did.</summary>
    public string Model { get; set; } = "";

    public BilledTo BilledTo { get; set; }

    public long Calls { get; set; }

    /// <summary>Calls that ended in <see cref="CallStatus.Error"/> or <see cref="CallStatus.Incomplete"/>.</summary>
    public long Errors { get; set; }

    public long Rejections { get; set; }

    public long Cancellations { get; set; }

    public long Fallbacks { get; set; }

    /// <summary>Calls answered by the exact or the semantic cache.</summary>
    public long CacheHits { get; set; }

    public long InputTokens { get; set; }

    public long OutputTokens { get; set; }

    public long CachedInputTokens { get; set; }

    /// <summary>Prompt-cache writes, 5-minute and 1-hour together.</summary>
    public long CacheWriteTokens { get; set; }

    public long ReasoningTokens { get; set; }

    public long CostMicros { get; set; }

    public long SavedCostMicros { get; set; }

    /// <summary>Calls whose cost is unknown (no price): shown, never counted as $0 silently.</summary>
    public long UnknownCostCalls { get; set; }

    public long LatencyMsSum { get; set; }

    /// <summary>Calls that reported a time to first token (streams).</summary>
    public long TtftCount { get; set; }

    public long TtftMsSum { get; set; }

    // Latency histogram: count of calls with latency below LatencyHistogram.UpperBoundsMs[i] (and above the previous bound).
    public long Lat0 { get; set; }
    public long Lat1 { get; set; }
    public long Lat2 { get; set; }
    public long Lat3 { get; set; }
    public long Lat4 { get; set; }
    public long Lat5 { get; set; }
    public long Lat6 { get; set; }
    public long Lat7 { get; set; }
    public long Lat8 { get; set; }
    public long Lat9 { get; set; }

    // Time-to-first-token histogram, same buckets.
    public long Ttft0 { get; set; }
    public long Ttft1 { get; set; }
    public long Ttft2 { get; set; }
    public long Ttft3 { get; set; }
    public long Ttft4 { get; set; }
    public long Ttft5 { get; set; }
    public long Ttft6 { get; set; }
    public long Ttft7 { get; set; }
    public long Ttft8 { get; set; }
    public long Ttft9 { get; set; }
}
