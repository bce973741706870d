using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Keystone.Gateway.Budgets;

/// <summary>
/// The budget ledger on PostgreSQL: every cap is reserved in one transaction with one conditional UPDATE per cap
/// (<c>spent + reserved + x &lt;= limit</c>), correct across instances (row locks, re-checked predicate).
/// </summary>
internal sealed class PostgresBudgetLedger(KeystoneDbFactory dbFactory, BudgetEvents events, TimeProvider clock, ILogger<BudgetLedger> log)
    : BudgetLedger(dbFactory, events, clock, log)
{
    protected override async Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveHeldAsync(Guid tenantId,
        List<ReservedCap> held, long amountMicros, CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(tenantId);
        await EnsureCountersAsync(db, tenantId, held, ct);
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
        // The refusal names the limit the UPDATE enforced (the row's), not the cached snapshot's: right after a change on
        // another instance the two differ, and the message named the old limit (issue 20, item 14).
        var enforced = await db.Budgets.AsNoTracking().Where(b => b.Id == refused.BudgetId).Select(b => (long?)b.LimitMicros).FirstOrDefaultAsync(ct);
        return (null, new BudgetRejection(refused with { LimitMicros = enforced ?? refused.LimitMicros }, counter?.SpentMicros ?? 0, counter?.ReservedMicros ?? 0,
            BudgetText.PeriodEnd(refused.Period, period)));
    }

    protected override async Task SettleHeldAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent,
        CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(reservation.TenantId);
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
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
            if (won > 0)
            {
                await AnnounceAsync(reservation.TenantId, h, crossed, counter.SpentMicros, ct);
            }
        }
    }
}
