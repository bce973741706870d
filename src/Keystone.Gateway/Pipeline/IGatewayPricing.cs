using Keystone.Gateway.Pricing;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// A model's price as the pipeline uses it: the same integer calculation (<see cref="PriceBook.Calculate(PriceRow, Usage, bool)"/>)
/// for the worst-case reservation and the settled cost, so a call that uses at most its counted prompt and
/// <c>max_tokens</c> never settles above what it reserved.
/// </summary>
public sealed record GatewayPrice(PriceRow Row)
{
    /// <summary>Cost of reported usage, micro-USD, by token type.</summary>
    public long CostMicros(Usage usage) => PriceBook.Calculate(Row, usage).CostMicros;

    /// <summary>The worst case of a call: every prompt token uncached, every allowed output token used.</summary>
    public long WorstCaseMicros(int promptTokens, int maxTokens) => CostMicros(new Usage(promptTokens, maxTokens));
}

/// <summary>
/// The effective-dated price lookup the gateway reserves and settles with. Returns null for a model without a price
/// at that time: the call is then recorded <c>cost_status = unknown</c>, never $0.
/// </summary>
public interface IGatewayPricing
{
    /// <param name="provider">The configured provider name (the lookup maps it to its price key).</param>
    /// <param name="model">The provider model.</param>
    /// <param name="atUtc">The call's time.</param>
    /// <param name="ct">Cancellation (the first lookup may load the table).</param>
    ValueTask<GatewayPrice?> FindAsync(string provider, string model, DateTime atUtc, CancellationToken ct);

    /// <summary>The dearest price in the table for chat or embedding models (input and output separately); null when there is none.</summary>
    /// <param name="embedding">True for embedding models.</param>
    /// <param name="ct">Cancellation (the first lookup may load the table).</param>
    ValueTask<GatewayPrice?> HighestAsync(bool embedding, CancellationToken ct);
}
