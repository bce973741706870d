namespace Keystone.Data.Caching;

/// <summary>
/// A tenant's own cache settings for one feature label, set by its admin on the caching page. Replaces the
/// platform's <c>Gateway:Features:{feature}</c> settings for that tenant's calls of that feature; features without
/// a row keep the platform's.
/// </summary>
public sealed class FeatureCacheSetting : ITenantOwned
{
    public const int FeatureMaxLength = 64;

    public Guid TenantId { get; set; }

    /// <summary>The feature label calls carry (case-insensitive match, stored as first written).</summary>
    public string Feature { get; set; } = "";

    /// <summary>Answer every request of the feature from the exact cache when the same request was answered before.</summary>
    public bool Cache { get; set; }

    /// <summary>Answer temperature-0 requests from the exact cache (deterministic asks); ignored when <see cref="Cache"/> is on.</summary>
    public bool CacheAtTemperatureZero { get; set; } = true;

    /// <summary>Answer a question close in meaning to a cached one (each lookup embeds the question: a charged call).</summary>
    public bool SemanticCache { get; set; }

    /// <summary>Lowest cosine similarity that counts as the same question, 0.5–1.</summary>
    public double SemanticThreshold { get; set; } = 0.95;

    public DateTime UpdatedUtc { get; set; }

    /// <summary>The console user who last changed it.</summary>
    public string? UpdatedByUserId { get; set; }
}
