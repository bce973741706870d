namespace Keystone.Gateway;

/// <summary>
/// Calls costed at the fallback price because their model had no price (<c>cost_status = Fallback</c>), per model: what
/// the budgets page and the founder's dashboard flag ("N calls priced at the fallback price because model X has no price").
/// </summary>
/// <param name="Provider">The configured provider name.</param>
/// <param name="Model">The provider model.</param>
/// <param name="Calls">Calls costed at the fallback price.</param>
/// <param name="CostMicros">What they were costed at (an upper bound), micro-USD.</param>
/// <param name="PricedNow">Whether the model has a price now (later calls are costed at it).</param>
public sealed record UnpricedModelCalls(string Provider, string Model, long Calls, long CostMicros, bool PricedNow);

/// <summary>Reads the calls that were costed at the fallback price for unpriced models.</summary>
public interface IUnpricedCalls
{
    /// <summary>One tenant's fallback-priced calls from <paramref name="fromUtc"/> (inclusive) to <paramref name="toUtc"/> (exclusive), per model.</summary>
    Task<IReadOnlyList<UnpricedModelCalls>> ForTenantAsync(Guid tenantId, DateTime fromUtc, DateTime toUtc, CancellationToken ct);

    /// <summary>Every tenant's fallback-priced calls in the range, per model (the platform's view).</summary>
    Task<IReadOnlyList<UnpricedModelCalls>> ForAllTenantsAsync(DateTime fromUtc, DateTime toUtc, CancellationToken ct);
}
