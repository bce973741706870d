namespace Keystone.Data.Rollups;

/// <summary>
/// The fixed latency buckets of <see cref="UsageRollup"/>: bucket i counts values in
/// [UpperBoundsMs[i-1], UpperBoundsMs[i]); the last bucket is open-ended. Fixed bounds make histograms of
/// different rows addable, so a percentile over any range is read from summed counts.
/// </summary>
public static class LatencyHistogram
{
    /// <summary>Exclusive upper bounds of buckets 0..8, in milliseconds; bucket 9 holds everything slower.</summary>
    public static readonly IReadOnlyList<int> UpperBoundsMs = [100, 250, 500, 1_000, 2_000, 4_000, 8_000, 15_000, 30_000];

    /// <summary>Number of buckets.</summary>
    public const int BucketCount = 10;

    /// <summary>The bucket a value falls in.</summary>
    public static int BucketOf(int ms)
    {
        for (var i = 0; i < UpperBoundsMs.Count; i++)
        {
            if (ms < UpperBoundsMs[i])
            {
                return i;
            }
        }

        return BucketCount - 1;
    }

    /// <summary>
    /// The percentile (0..1) as the upper bound of the bucket that holds it: a conservative reading ("p95 is
    /// under 2 s"). Returns null when there are no values; the open last bucket reads as its lower bound.
    /// </summary>
    public static int? Percentile(IReadOnlyList<long> counts, double p)
    {
        var total = counts.Sum();
        if (total == 0)
        {
            return null;
        }

        var rank = (long)Math.Ceiling(p * total);
        long seen = 0;
        for (var i = 0; i < counts.Count; i++)
        {
            seen += counts[i];
            if (seen >= rank)
            {
                return i < UpperBoundsMs.Count ? UpperBoundsMs[i] : UpperBoundsMs[^1];
            }
        }

        return UpperBoundsMs[^1];
    }
}
