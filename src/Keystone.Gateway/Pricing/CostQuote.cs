using Keystone.Data.Calls;

namespace Keystone.Gateway.Pricing;

/// <summary>
/// The cost of one call's usage. <see cref="CostStatus.Unknown"/> when no price was in force for the model at
/// the call's time: <see cref="CostMicros"/> is then 0 and must be recorded as unknown, never as a free call.
/// </summary>
/// <param name="Status"><see cref="CostStatus.Exact"/> or <see cref="CostStatus.Unknown"/>.</param>
/// <param name="CostMicros">Total, micro-USD, rounded once (half up).</param>
/// <param name="Price">The price row used, when known.</param>
/// <param name="Breakdown">Unrounded micro-USD per token type, for traces and tests.</param>
public sealed record CostQuote(CostStatus Status, long CostMicros, PriceRow? Price, CostBreakdown? Breakdown)
{
    public bool IsKnown => Status != CostStatus.Unknown;

    public static CostQuote Unknown { get; } = new(CostStatus.Unknown, 0, null, null);
}

/// <summary>Tokens by billed type and their unrounded cost in micro-USD.</summary>
public sealed record CostBreakdown(
    long UncachedInputTokens,
    long CachedInputTokens,
    long CacheWrite5mTokens,
    long CacheWrite1hTokens,
    long OutputTokens,
    decimal InputMicros,
    decimal CachedInputMicros,
    decimal CacheWrite5mMicros,
    decimal CacheWrite1hMicros,
    decimal OutputMicros);

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
