using System.Collections.Concurrent;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Gateway.Pricing;
using Keystone.Gateway.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// A target's price at the call's time, as the reservation (worst case) and the settlement (actual cost) look it up.
/// A model without a price is an operator problem: the first miss per model per process logs a warning and leaves a
/// system audit entry, and the call is costed at the fallback price (<see cref="FallbackAsync"/>) or refused
/// (<see cref="UnpricedModelAction.Refuse"/>), never let through as free.
/// </summary>
internal sealed partial class CallPricing(
    IGatewayPricing pricing,
    KeystoneDbFactory dbFactory,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock,
    ILogger<CallPricing> log)
{
    private readonly ConcurrentDictionary<string, bool> _unknownPriceAlerted = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The price of <paramref name="target"/> at <paramref name="atUtc"/>; null (and alerted once) when there is none.</summary>
    public async ValueTask<GatewayPrice?> FindAsync(Guid tenantId, ModelTarget target, DateTime atUtc, CancellationToken ct)
    {
        var price = await pricing.FindAsync(target.Provider, target.Model, atUtc, ct);
        if (price is null)
        {
            AlertUnknownPrice(tenantId, target);
        }

        return price;
    }

    /// <summary>
    /// The price an unpriced model is costed at: <c>Gateway:UnpricedModels</c>'s prices where set, else the dearest of the
    /// table for that kind of model. Null only when neither exists (an empty price table).
    /// </summary>
    public async ValueTask<GatewayPrice?> FallbackAsync(bool embedding, CancellationToken ct)
    {
        var o = options.CurrentValue.UnpricedModels;
        var highest = await pricing.HighestAsync(embedding, ct);
        var input = (embedding ? o.EmbeddingMicrosPerMillion : o.InputMicrosPerMillion) ?? highest?.Row.InputMicrosPerMillion;
        var output = embedding ? 0 : o.OutputMicrosPerMillion ?? highest?.Row.OutputMicrosPerMillion;
        return input is { } i && output is { } u
            ? new GatewayPrice(new PriceRow("fallback", "unpriced", DateTime.MinValue, i, u, null, null, null, 0, "fallback"))
            : null;
    }

    /// <summary>The refusal of a call on <paramref name="target"/>, which has no price (<c>Gateway:UnpricedModels:Action=Refuse</c>, or a capped call with no fallback price).</summary>
    public static GatewayException NotPriced(ModelTarget target, string why) => new(new GatewayError(GatewayErrorCodes.ModelNotPriced,
        $"The model '{target}' has no price, so its spend cannot be counted: {why}", 403, Param: "model"));

    private void AlertUnknownPrice(Guid tenantId, ModelTarget target)
    {
        if (!_unknownPriceAlerted.TryAdd(target.ToString(), true))
        {
            return;
        }

        LogUnknownPrice(log, target.ToString());
        // Off the call's path: the call goes on (costed at the fallback price) whether or not the audit entry lands.
        _ = Task.Run(async () =>
        {
            try
            {
                await using var db = dbFactory.ForSystem();
                db.AuditLog.Add(new AuditEntry
                {
                    ActorType = "system",
                    ActorId = "gateway",
                    ActorName = "Keystone gateway",
                    TenantId = tenantId,
                    Action = "gateway.price_unknown",
                    Target = "model:" + target,
                    CreatedUtc = clock.GetUtcNow().UtcDateTime,
                });
                await db.SaveChangesAsync();
            }
            catch (Exception ex)
            {
                LogAlertFailed(log, ex);
            }
        });
    }

    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message = "No price for {Model}: its calls are costed at the fallback price for unpriced models (cost_status Fallback) or refused")]
    private static partial void LogUnknownPrice(ILogger log, string model);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Writing the unknown-price alert failed")]
    private static partial void LogAlertFailed(ILogger log, Exception ex);
}
