using System.Collections.Concurrent;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Gateway.Routing;
using Microsoft.Extensions.Logging;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// A target's price at the call's time, as the reservation (worst case) and the settlement (actual cost) look it up.
/// A model without a price is an operator problem: the first miss per model per process logs a warning and leaves a
/// system audit entry.
/// </summary>
internal sealed partial class CallPricing(IGatewayPricing pricing, KeystoneDbFactory dbFactory, TimeProvider clock, ILogger<CallPricing> log)
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

    private void AlertUnknownPrice(Guid tenantId, ModelTarget target)
    {
        if (!_unknownPriceAlerted.TryAdd(target.ToString(), true))
        {
            return;
        }

        LogUnknownPrice(log, target.ToString());
        // Off the call's path: the call goes on (recorded cost_status unknown) whether or not the audit entry lands.
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

    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message = "No price for {Model}: its calls are recorded with cost_status unknown")]
    private static partial void LogUnknownPrice(ILogger log, string model);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Writing the unknown-price alert failed")]
    private static partial void LogAlertFailed(ILogger log, Exception ex);
}
