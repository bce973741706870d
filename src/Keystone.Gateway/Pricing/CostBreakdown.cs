namespace Keystone.Gateway.Pricing;

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
