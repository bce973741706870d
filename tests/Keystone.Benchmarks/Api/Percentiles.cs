namespace Keystone.Benchmarks.Api;

/// <summary>Median and 99th percentile of latency samples in milliseconds (NaN for none).</summary>
internal sealed record Percentiles(double P50, double P99)
{
    /// <summary>Sorts <paramref name="samples"/> in place.</summary>
    public static Percentiles Of(double[] samples)
    {
        if (samples.Length == 0)
        {
            return new Percentiles(double.NaN, double.NaN);
        }

        Array.Sort(samples);
        return new Percentiles(samples[samples.Length / 2], samples[Math.Min(samples.Length - 1, (int)(samples.Length * 0.99))]);
    }
}
