namespace Keystone.Data.Rollups;

/// <summary>The width of a usage rollup bucket. Stored as text.</summary>
public enum RollupGrain
{
    /// <summary>One UTC hour.</summary>
    Hour,

    /// <summary>One UTC day.</summary>
    Day,
}
