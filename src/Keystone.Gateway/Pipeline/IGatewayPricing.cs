namespace Keystone.Gateway.Pipeline;

/// <summary>
/// A model's price, micro-USD per million tokens by token type. Costs round up to the whole micro-dollar, so a
/// reservation computed from the same price is never below the settled cost for the same tokens.
/// </summary>
public sealed record GatewayPrice(
    long InputPerMillionMicros,
    long OutputPerMillionMicros,
    long CachedInputPerMillionMicros = 0,
    long CacheWritePerMillionMicros = 0,
    long CacheWrite1hPerMillionMicros = 0)
{
    /// <summary>Cost of reported usage: uncached input, cached reads, cache writes (5 min, 1 h) and output at their own rates.</summary>
    public long CostMicros(Usage usage)
    {
        var uncached = Math.Max(0, usage.InputTokens - usage.CachedInputTokens - usage.CacheWriteTokens - usage.CacheWrite1hTokens);
        var scaled = (decimal)uncached * InputPerMillionMicros
            + (decimal)usage.CachedInputTokens * CachedInputPerMillionMicros
            + (decimal)usage.CacheWriteTokens * CacheWritePerMillionMicros
            + (decimal)usage.CacheWrite1hTokens * CacheWrite1hPerMillionMicros
            + (decimal)usage.OutputTokens * OutputPerMillionMicros;
        return (long)Math.Ceiling(scaled / 1_000_000m);
    }

    /// <summary>The worst case of a call: every prompt token uncached, every allowed output token used.</summary>
    public long WorstCaseMicros(int promptTokens, int maxTokens) => CostMicros(new Usage(promptTokens, maxTokens));
}

/// <summary>
/// The effective-dated price lookup the gateway settles with (the seam to the price table). Returns null
/// for a model without a price at that time: the call is then recorded <c>cost_status = unknown</c>, never $0.
/// </summary>
public interface IGatewayPricing
{
    GatewayPrice? Find(string provider, string model, DateTime atUtc);
}
