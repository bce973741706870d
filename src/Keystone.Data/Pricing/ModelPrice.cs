namespace Keystone.Data.Pricing;

/// <summary>
/// One effective-dated list price of a provider model, micro-USD per million tokens. A price is in force
/// from <see cref="EffectiveFromUtc"/> until the next row of the same provider and model. Rows are
/// seeded from the versioned price file and never edited in place: a price change is a new row, so old
/// calls keep being costed with the price of their time. Not tenant-owned.
/// </summary>
public sealed class ModelPrice
{
    public long Id { get; set; }

    /// <summary>Price key of the provider: its kind in lower case (<c>openai</c>, <c>anthropic</c>, <c>simulated</c>) or a configured key.</summary>
    public string Provider { get; set; } = "";

    /// <summary>Provider model name (<c>gpt-4o-mini</c>); dated snapshots match by prefix.</summary>
    public string Model { get; set; } = "";

    /// <summary>Uncached input tokens, micro-USD per million tokens.</summary>
    public long InputMicrosPerMillion { get; set; }

    /// <summary>Output tokens (reasoning included), micro-USD per million tokens.</summary>
    public long OutputMicrosPerMillion { get; set; }

    /// <summary>Input tokens read from the prompt cache; null when the provider has no such rate (billed as input).</summary>
    public long? CachedInputMicrosPerMillion { get; set; }

    /// <summary>Input tokens written to a 5-minute cache; null when not charged separately (billed as input).</summary>
    public long? CacheWrite5mMicrosPerMillion { get; set; }

    /// <summary>Input tokens written to a 1-hour cache; null when not charged separately (billed as input).</summary>
    public long? CacheWrite1hMicrosPerMillion { get; set; }

    /// <summary>Discount of the provider's batch API in percent (50 = half price); 0 when there is none.</summary>
    public int BatchDiscountPercent { get; set; }

    public DateTime EffectiveFromUtc { get; set; }

    /// <summary>Where the price was read, and when (a URL and a date).</summary>
    public string Source { get; set; } = "";
}
