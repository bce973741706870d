using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Prices from <c>Gateway:Prices</c> plus the simulated provider's own, so the embedded mode prices every call.
/// Registered only when no price table is registered.
/// </summary>
// REVIEW: replace with the effective-dated PriceBook from the providers branch once it is merged (adapter over IGatewayPricing).
internal sealed class ConfiguredPricing(IOptionsMonitor<GatewayOptions> options) : IGatewayPricing
{
    private static readonly Dictionary<string, GatewayPrice> Simulated = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sim/sim-fast"] = new(150_000, 600_000, 75_000),
        ["sim/sim-smart"] = new(2_500_000, 10_000_000, 1_250_000),
        ["sim/sim-reasoning"] = new(1_100_000, 4_400_000, 550_000),
        ["sim/sim-embed"] = new(20_000, 0),
    };

    public GatewayPrice? Find(string provider, string model, DateTime atUtc)
    {
        var id = provider + "/" + model;
        if (options.CurrentValue.Prices.TryGetValue(id, out var p))
        {
            return new GatewayPrice(p.InputPerMillionMicros, p.OutputPerMillionMicros, p.CachedInputPerMillionMicros,
                p.CacheWritePerMillionMicros, p.CacheWrite1hPerMillionMicros);
        }

        return Simulated.GetValueOrDefault(id);
    }
}
