using System.Collections.Concurrent;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Keystone.Gateway.Budgets;

/// <summary>
/// Reserves, settles and releases spend on the budget counters, all caps of a call or none. One implementation per
/// database mode, chosen when the gateway is registered: <see cref="PostgresBudgetLedger"/> (one conditional UPDATE per
/// cap in one transaction, correct across instances) and <see cref="SqliteBudgetLedger"/> (counters in memory under one
/// lock, persisted behind the request path). See docs/decisions/0009-budget-atomicity.md.
/// </summary>
/// <remarks>
/// What both modes share lives here: which caps apply, the period each reservation counts in, creating counter rows,
/// and announcing a crossed soft threshold (audit entry and in-process event).
/// </remarks>
internal abstract partial class BudgetLedger(KeystoneDbFactory dbFactory, BudgetEvents events, TimeProvider clock, ILogger<BudgetLedger> log)
    : IHostedService, IAsyncDisposable
{
    private readonly ConcurrentDictionary<(Guid, DateTime), bool> _ensured = new();

    protected KeystoneDbFactory DbFactory => dbFactory;

    protected TimeProvider Clock => clock;

    protected ILogger<BudgetLedger> Log => log;

    /// <summary>The caps of <paramref name="snapshot"/> that apply to this call.</summary>
    public static IReadOnlyList<CapRow> Applicable(TenantSnapshot snapshot, CallContext context)
    {
        if (snapshot.Caps.Count == 0)
        {
            return [];
        }

        var apiKey = context.ApiKeyId?.ToString("D");
        return snapshot.Caps.Where(c => c.Scope switch
        {
            BudgetScope.Tenant => true,
            BudgetScope.User => c.Key == context.UserId || c.Key == context.EndUser,
            BudgetScope.Feature => c.Key == context.Feature,
            _ => c.Key == apiKey,
        }).ToList();
    }

    /// <summary>Reserves <paramref name="amountMicros"/> on every cap, or on none and returns the first cap that refused.</summary>
    public async Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveAsync(Guid tenantId, IReadOnlyList<CapRow> caps,
        long amountMicros, CancellationToken ct)
    {
        if (caps.Count == 0)
        {
            return (BudgetReservation.None(tenantId), null);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var held = caps.OrderBy(c => c.BudgetId).Select(c => new ReservedCap(c, BudgetText.PeriodStart(c.Period, now))).ToList();
        return await ReserveHeldAsync(tenantId, held, amountMicros, ct);
    }

    /// <summary>Replaces the reservation by the actual cost (0 to release it) and raises crossed soft thresholds.</summary>
    public async Task SettleAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent, CancellationToken ct)
    {
        if (reservation.Caps.Count == 0 || !reservation.TryClose())
        {
            return;
        }

        await SettleHeldAsync(reservation, actualMicros, softThresholdsPercent, ct);
    }

    /// <summary>Reserves on every cap of <paramref name="held"/> (ordered by budget id), or on none.</summary>
    protected abstract Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveHeldAsync(Guid tenantId, List<ReservedCap> held,
        long amountMicros, CancellationToken ct);

    /// <summary>Settles an open reservation (closed exactly once by <see cref="SettleAsync"/>).</summary>
    protected abstract Task SettleHeldAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent,
        CancellationToken ct);

    /// <summary>Writes counter changes held in memory; nothing to do where the counters live in the database.</summary>
    public virtual Task FlushAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Forgets the counters of removed caps (their rows went with them).</summary>
    public virtual void Forget(IReadOnlyCollection<Guid> budgetIds)
    {
        foreach (var key in _ensured.Keys.Where(k => budgetIds.Contains(k.Item1)))
        {
            _ensured.TryRemove(key, out _);
        }
    }

    public virtual Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Writes what is held in memory before the host stops (nothing in a database-backed mode).</summary>
    public virtual Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Creates the counter rows of <paramref name="held"/> once per process (the same statement in both modes).</summary>
    protected async Task EnsureCountersAsync(KeystoneDbContext db, Guid tenantId, IReadOnlyList<ReservedCap> held, CancellationToken ct)
    {
        foreach (var h in held)
        {
            if (_ensured.ContainsKey((h.Cap.BudgetId, h.PeriodStartUtc)))
            {
                continue;
            }

            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO budget_counters (budget_id, period_start_utc, tenant_id, spent_micros, reserved_micros, fired_threshold_percent)
                VALUES ({h.Cap.BudgetId}, {h.PeriodStartUtc}, {tenantId}, 0, 0, 0)
                ON CONFLICT (budget_id, period_start_utc) DO NOTHING
                """, ct);
            _ensured[(h.Cap.BudgetId, h.PeriodStartUtc)] = true;
        }
    }

    /// <summary>Records that a threshold fired (audit entry, actor type system) and raises the in-process event.</summary>
    protected async Task AnnounceAsync(Guid tenantId, ReservedCap h, int crossed, long spent, CancellationToken ct)
    {
        var e = new BudgetThresholdCrossed(tenantId, h.Cap.Scope, h.Cap.Key, h.Cap.Period, crossed, h.Cap.LimitMicros, spent, h.PeriodStartUtc);
        await using (var audit = dbFactory.ForSystem())
        {
            audit.AuditLog.Add(new AuditEntry
            {
                ActorType = "system",
                ActorId = "gateway",
                ActorName = "Keystone gateway",
                TenantId = tenantId,
                Action = ThresholdAudit.Action,
                Target = $"budget:{h.Cap.BudgetId}",
                MetadataJson = JsonSerializer.Serialize(new ThresholdAudit(
                    BudgetText.Of(e.Scope), e.Key, BudgetText.Of(e.Period), crossed, e.LimitMicros, e.SpentMicros, e.PeriodStartUtc)),
                CreatedUtc = clock.GetUtcNow().UtcDateTime,
            });
            await audit.SaveChangesAsync(ct);
        }

        LogThreshold(log, tenantId, BudgetText.Of(e.Scope), crossed);
        try
        {
            events.Raise(e);
        }
        catch (Exception ex)
        {
            LogHandlerFailed(log, ex);
        }
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Warning, Message = "Budget soft threshold {ThresholdPercent}% crossed for tenant {TenantId} ({Scope} cap)")]
    private static partial void LogThreshold(ILogger log, Guid tenantId, string scope, int thresholdPercent);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Error, Message = "A budget threshold handler failed")]
    private static partial void LogHandlerFailed(ILogger log, Exception ex);
}
