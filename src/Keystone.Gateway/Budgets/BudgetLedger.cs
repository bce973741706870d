using System.Collections.Concurrent;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Keystone.Gateway.Budgets;

/// <summary>
/// Reserves, settles and releases spend on the budget counters. Every cap a call touches is reserved in one
/// transaction with one conditional UPDATE per cap (<c>spent + reserved + x &lt;= limit</c>), all or nothing.
/// On PostgreSQL that is correct across instances (row locks, re-checked predicate); on SQLite a process-wide
/// semaphore serializes ledger work (one instance). See docs/decisions/0010-budget-atomicity.md.
/// </summary>
internal sealed partial class BudgetLedger(KeystoneDbFactory dbFactory, BudgetEvents events, TimeProvider clock, ILogger<BudgetLedger> log)
{
    private readonly SemaphoreSlim _sqliteLock = new(1, 1);
    private readonly ConcurrentDictionary<(Guid, DateTime), bool> _ensured = new();

    private bool IsSqlite => dbFactory.Provider == DatabaseProvider.Sqlite;

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
        await using var db = dbFactory.ForTenant(tenantId);
        await EnsureCountersAsync(db, tenantId, held, ct);

        if (IsSqlite)
        {
            await _sqliteLock.WaitAsync(ct);
        }

        try
        {
            CapRow? refused = null;
            await using (var tx = await db.Database.BeginTransactionAsync(ct))
            {
                foreach (var h in held)
                {
                    // The predicate is re-checked after a concurrent writer's row lock is released (READ COMMITTED),
                    // so two instances can never both pass it with the same headroom.
                    var rows = await db.Database.ExecuteSqlAsync($"""
                        UPDATE budget_counters SET reserved_micros = reserved_micros + {amountMicros}
                        WHERE budget_id = {h.Cap.BudgetId} AND period_start_utc = {h.PeriodStartUtc}
                          AND spent_micros + reserved_micros + {amountMicros} <= (SELECT limit_micros FROM budgets WHERE id = {h.Cap.BudgetId})
                        """, ct);
                    if (rows == 0)
                    {
                        refused = h.Cap;
                        break;
                    }
                }

                if (refused is null)
                {
                    await tx.CommitAsync(ct);
                    return (new BudgetReservation(tenantId, amountMicros, held), null);
                }

                await tx.RollbackAsync(ct);
            }

            var period = held.First(h => h.Cap == refused).PeriodStartUtc;
            var counter = await db.BudgetCounters.AsNoTracking()
                .Where(c => c.BudgetId == refused.BudgetId && c.PeriodStartUtc == period)
                .Select(c => new { c.SpentMicros, c.ReservedMicros }).FirstOrDefaultAsync(ct);
            return (null, new BudgetRejection(refused, counter?.SpentMicros ?? 0, counter?.ReservedMicros ?? 0,
                BudgetText.PeriodEnd(refused.Period, period)));
        }
        finally
        {
            if (IsSqlite)
            {
                _sqliteLock.Release();
            }
        }
    }

    /// <summary>Replaces the reservation by the actual cost (0 to release it) and raises crossed soft thresholds.</summary>
    public async Task SettleAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent, CancellationToken ct)
    {
        if (reservation.Caps.Count == 0 || !reservation.TryClose())
        {
            return;
        }

        await using var db = dbFactory.ForTenant(reservation.TenantId);
        if (IsSqlite)
        {
            await _sqliteLock.WaitAsync(ct);
        }

        try
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            foreach (var h in reservation.Caps)
            {
                await db.Database.ExecuteSqlAsync($"""
                    UPDATE budget_counters SET reserved_micros = reserved_micros - {reservation.AmountMicros},
                        spent_micros = spent_micros + {actualMicros}
                    WHERE budget_id = {h.Cap.BudgetId} AND period_start_utc = {h.PeriodStartUtc}
                    """, ct);
            }

            await tx.CommitAsync(ct);
        }
        finally
        {
            if (IsSqlite)
            {
                _sqliteLock.Release();
            }
        }

        if (actualMicros > 0 && softThresholdsPercent.Count > 0)
        {
            await RaiseThresholdsAsync(db, reservation, softThresholdsPercent, ct);
        }
    }

    private async Task RaiseThresholdsAsync(KeystoneDbContext db, BudgetReservation reservation, IReadOnlyList<int> thresholds,
        CancellationToken ct)
    {
        foreach (var h in reservation.Caps)
        {
            var counter = await db.BudgetCounters.AsNoTracking()
                .Where(c => c.BudgetId == h.Cap.BudgetId && c.PeriodStartUtc == h.PeriodStartUtc)
                .Select(c => new { c.SpentMicros, c.FiredThresholdPercent }).FirstOrDefaultAsync(ct);
            if (counter is null)
            {
                continue;
            }

            var crossed = thresholds.Where(t => t > counter.FiredThresholdPercent && counter.SpentMicros * 100 >= h.Cap.LimitMicros * t)
                .DefaultIfEmpty(0).Max();
            if (crossed == 0)
            {
                continue;
            }

            // Only the instance whose update wins raises the event: once per cap, threshold and period.
            var won = await db.Database.ExecuteSqlAsync($"""
                UPDATE budget_counters SET fired_threshold_percent = {crossed}
                WHERE budget_id = {h.Cap.BudgetId} AND period_start_utc = {h.PeriodStartUtc} AND fired_threshold_percent < {crossed}
                """, ct);
            if (won == 0)
            {
                continue;
            }

            var e = new BudgetThresholdCrossed(reservation.TenantId, h.Cap.Scope, h.Cap.Key, h.Cap.Period, crossed, h.Cap.LimitMicros,
                counter.SpentMicros, h.PeriodStartUtc);
            await using (var audit = dbFactory.ForSystem())
            {
                audit.AuditLog.Add(new AuditEntry
                {
                    ActorType = "system",
                    ActorId = "gateway",
                    ActorName = "Keystone gateway",
                    TenantId = reservation.TenantId,
                    Action = "budget.threshold",
                    Target = $"budget:{h.Cap.BudgetId}",
                    MetadataJson = JsonSerializer.Serialize(new
                    {
                        scope = BudgetText.Of(e.Scope), key = e.Key, period = BudgetText.Of(e.Period), thresholdPercent = crossed,
                        limitMicros = e.LimitMicros, spentMicros = e.SpentMicros, periodStartUtc = e.PeriodStartUtc,
                    }),
                    CreatedUtc = clock.GetUtcNow().UtcDateTime,
                });
                await audit.SaveChangesAsync(ct);
            }

            LogThreshold(log, reservation.TenantId, BudgetText.Of(e.Scope), crossed);
            try
            {
                events.Raise(e);
            }
            catch (Exception ex)
            {
                LogHandlerFailed(log, ex);
            }
        }
    }

    private async Task EnsureCountersAsync(KeystoneDbContext db, Guid tenantId, IReadOnlyList<ReservedCap> held, CancellationToken ct)
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

    /// <summary>Forgets which counters exist (a cap was removed and its counters with it).</summary>
    public void ForgetCounters() => _ensured.Clear();

    [LoggerMessage(EventId = 3100, Level = LogLevel.Warning, Message = "Budget soft threshold {ThresholdPercent}% crossed for tenant {TenantId} ({Scope} cap)")]
    private static partial void LogThreshold(ILogger log, Guid tenantId, string scope, int thresholdPercent);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Error, Message = "A budget threshold handler failed")]
    private static partial void LogHandlerFailed(ILogger log, Exception ex);
}
