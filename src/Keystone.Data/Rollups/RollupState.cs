namespace Keystone.Data.Rollups;

/// <summary>Progress of one rollup (its watermark), so each run only looks at calls ingested since the last.</summary>
public sealed class RollupState
{
    /// <summary>The rollup's name (<c>usage</c>).</summary>
    public string Name { get; set; } = "";

    /// <summary>Highest <c>llm_calls.ingested_utc</c> processed so far (database clock); null before the first run.</summary>
    public DateTime? WatermarkUtc { get; set; }

    public DateTime? LastRunUtc { get; set; }

    /// <summary>Hour buckets recomputed by the last run.</summary>
    public int LastRunHours { get; set; }

    /// <summary>Calls newly ingested that the last run picked up.</summary>
    public long LastRunCalls { get; set; }

    public long LastRunMs { get; set; }
}
