using Keystone.Gateway.Pricing;
using Keystone.Gateway.Providers;

namespace Keystone.Gateway.Pipeline;

/// <summary>Prices from the <c>model_prices</c> table (<see cref="PriceBook"/>), keyed by each provider's price key.</summary>
internal sealed class PriceBookPricing(PriceBook book, ProviderRegistry registry) : IGatewayPricing
{
    public async ValueTask<GatewayPrice?> FindAsync(string provider, string model, DateTime atUtc, CancellationToken ct)
    {
        await book.EnsureLoadedAsync(ct);
        var row = book.Find(registry.PriceKeyOf(provider) ?? provider.ToLowerInvariant(), model, atUtc);
        return row is null ? null : new GatewayPrice(row);
    }

    public async ValueTask<GatewayPrice?> HighestAsync(bool embedding, CancellationToken ct)
    {
        await book.EnsureLoadedAsync(ct);
        return book.Highest(embedding) is { } row ? new GatewayPrice(row) : null;
    }
}
