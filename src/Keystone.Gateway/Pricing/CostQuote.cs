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
