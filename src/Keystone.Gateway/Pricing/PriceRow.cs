namespace Keystone.Gateway.Pricing;

/// <summary>An in-memory price (micro-USD per million tokens), copied from a <c>model_prices</c> row.</summary>
public sealed record PriceRow(
    string Provider,
    string Model,
    DateTime EffectiveFromUtc,
    long InputMicrosPerMillion,
    long OutputMicrosPerMillion,
    long? CachedInputMicrosPerMillion,
    long? CacheWrite5mMicrosPerMillion,
    long? CacheWrite1hMicrosPerMillion,
    int BatchDiscountPercent,
    string Source);
