using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Keystone.Gateway.Budgets;

/// <summary>
/// The budget ledger on PostgreSQL: every cap is reserved in one transaction with one conditional UPDATE per cap
/// (<c>spent + reserved + x &lt;= limit</c>), correct across instances (row locks, re-checked predicate).
/// </summary>
/// <remarks>
/// Each reservation also leaves one <c>budget_reservations</c> row per cap in the same transaction (call, amount, owner,
/// time), and the settlement marks it settled in the transaction that moves the amount from reserved to spent. So the
/// database itself knows which reservations are in flight and which settled costs the recorder has not written yet,
/// and <see cref="ReconcileAsync"/> can rebuild a counter without touching the live reservations of other instances:
/// reserved = the open rows, spent = the recorded calls plus the settled rows whose call is not recorded yet.
/// </remarks>
internal sealed class PostgresBudgetLedger(
    KeystoneDbFactory dbFactory,
    BudgetEvents events,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock,
    ILogger<BudgetLedger> log)
    : BudgetLedger(dbFactory, events, options, clock, log)
{
    /// <summary>Who holds a reservation, for operators reading <c>budget_reservations</c>.</summary>
    private static readonly string Owner = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>The owner of a batch line's hold: the prefix tells the reconciler to keep it for <see cref="BudgetLedger.HoldLifetime"/>.</summary>
    private static readonly string HoldOwner = "batch:" + Owner;

    protected override async Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveHeldAsync(Guid tenantId, Guid callId,
        DateTime nowUtc, List<ReservedCap> held, long amountMicros, long roomMicros, CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(tenantId);
        await EnsureCountersAsync(db, tenantId, held, ct);
        var refused = await ReserveInOneTripAsync(db, held, amountMicros, roomMicros, h => Command("""
            INSERT INTO budget_reservations (call_id, budget_id, period_start_utc, tenant_id, amount_micros, owner, created_utc)
            VALUES (@call, @budget, @period, @tenant, @amount, @owner, @now)
            """, ("call", callId), ("budget", h.Cap.BudgetId), ("period", h.PeriodStartUtc), ("tenant", tenantId),
            ("amount", amountMicros), ("owner", Owner), ("now", nowUtc)), ct);
        if (refused is null)
        {
            return (new BudgetReservation(tenantId, amountMicros, held, callId, nowUtc), null);
        }

        if (roomMicros > 0)
        {
            // A rough attempt (room asked): its refusal is never shown, the caller counts exactly and asks again.
            return (null, new BudgetRejection(refused, 0, 0, BudgetText.PeriodEnd(refused.Period, held.First(h => h.Cap == refused).PeriodStartUtc)));
        }

        return (null, await RejectionAsync(db, held, refused, ct));
    }

    protected override async Task<(IReadOnlyList<BudgetReservation>? Holds, BudgetRejection? Rejection)> ReserveHoldsHeldAsync(Guid tenantId,
        DateTime nowUtc, List<ReservedCap> held, IReadOnlyList<(Guid CallId, long AmountMicros)> lines, CancellationToken ct)
    {
        var total = lines.Aggregate(0L, (sum, l) => checked(sum + l.AmountMicros));
        var ids = lines.Select(l => l.CallId).ToArray();
        var amounts = lines.Select(l => l.AmountMicros).ToArray();
        await using var db = DbFactory.ForTenant(tenantId);
        await EnsureCountersAsync(db, tenantId, held, ct);
        // The sum in one conditional UPDATE per cap, as for a call: two batches racing cannot both pass. One row per line
        // and cap, marked as a hold by its owner so the reconciler keeps it for HoldLifetime.
        var refused = await ReserveInOneTripAsync(db, held, total, 0, h => Command("""
            INSERT INTO budget_reservations (call_id, budget_id, period_start_utc, tenant_id, amount_micros, owner, created_utc)
            SELECT u.id, @budget, @period, @tenant, u.amount, @owner, @now
            FROM unnest(@ids, @amounts) AS u(id, amount)
            """, ("budget", h.Cap.BudgetId), ("period", h.PeriodStartUtc), ("tenant", tenantId), ("ids", ids), ("amounts", amounts),
            ("owner", HoldOwner), ("now", nowUtc)), ct);
        if (refused is null)
        {
            return (lines.Select(l => new BudgetReservation(tenantId, l.AmountMicros, held, l.CallId, nowUtc, isHold: true)).ToList(), null);
        }

        return (null, await RejectionAsync(db, held, refused, ct));
    }

    /// <summary>
    /// The refusal of <paramref name="refused"/> as the database has it now: its counter, and the limit the UPDATE
    /// enforced (the row's), not the cached snapshot's: right after a change on another instance the two differ, and the
    /// message named the old limit (issue 20, item 14).
    /// </summary>
    private static async Task<BudgetRejection> RejectionAsync(KeystoneDbContext db, List<ReservedCap> held, CapRow refused, CancellationToken ct)
    {
        var period = held.First(h => h.Cap == refused).PeriodStartUtc;
        var counter = await db.BudgetCounters.AsNoTracking()
            .Where(c => c.BudgetId == refused.BudgetId && c.PeriodStartUtc == period)
            .Select(c => new { c.SpentMicros, c.ReservedMicros }).FirstOrDefaultAsync(ct);
        var enforced = await db.Budgets.AsNoTracking().Where(b => b.Id == refused.BudgetId).Select(b => (long?)b.LimitMicros).FirstOrDefaultAsync(ct);
        return new BudgetRejection(refused with { LimitMicros = enforced ?? refused.LimitMicros }, counter?.SpentMicros ?? 0, counter?.ReservedMicros ?? 0,
            BudgetText.PeriodEnd(refused.Period, period));
    }

    /// <summary>The holds live in <c>budget_reservations</c> (they survive a restart): the handles are all that is needed to settle them.</summary>
    public override Task<IReadOnlyList<BudgetReservation>> RestoreHoldsAsync(Guid tenantId, IReadOnlyList<ReservedCap> held,
        IReadOnlyList<(Guid CallId, long AmountMicros)> lines, DateTime createdUtc, CancellationToken ct)
        => Task.FromResult<IReadOnlyList<BudgetReservation>>(
            lines.Select(l => new BudgetReservation(tenantId, l.AmountMicros, held, l.CallId, createdUtc, isHold: true)).ToList());

    protected override async Task SettleHeldAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent,
        CancellationToken ct)
    {
        var now = Clock.GetUtcNow().UtcDateTime;
        await using var db = DbFactory.ForTenant(reservation.TenantId);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await connection.OpenAsync(ct);
        try
        {
            // One round trip: the tenant set for the batch's implicit transaction (one Sync, all or nothing), then one
            // statement per cap. Each is idempotent, so a retry after a commit whose acknowledgement was lost counts
            // nothing twice: the open row is marked settled and its amount leaves reserved; a row already settled means
            // this ran before (the counter is left alone); no row at all means the reconciler dropped it as stale (its
            // amount already left reserved: the spend alone is added). The row is locked before the counter, as before.
            await using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(PostgresTenantInterceptor.TransactionSettings(db.Scope));
            foreach (var h in reservation.Caps)
            {
                batch.BatchCommands.Add(Command("""
                    WITH open AS (
                        UPDATE budget_reservations SET settled_micros = @actual, settled_utc = @now
                        WHERE call_id = @call AND budget_id = @budget AND settled_micros IS NULL
                        RETURNING amount_micros)
                    UPDATE budget_counters SET reserved_micros = reserved_micros - COALESCE((SELECT amount_micros FROM open), 0),
                        spent_micros = spent_micros + @actual
                    WHERE budget_id = @budget AND period_start_utc = @period
                      AND (EXISTS (SELECT 1 FROM open)
                           OR NOT EXISTS (SELECT 1 FROM budget_reservations WHERE call_id = @call AND budget_id = @budget))
                    """, ("actual", actualMicros), ("now", now), ("call", reservation.CallId), ("budget", h.Cap.BudgetId),
                    ("period", h.PeriodStartUtc)));
            }

            await batch.ExecuteNonQueryAsync(ct);
        }
        finally
        {
            await connection.CloseAsync();
        }
    }

    /// <summary>
    /// Reserves <paramref name="amountMicros"/> on every cap of <paramref name="held"/> in one transaction and two round
    /// trips: one batch with the tenant set transaction-locally, one conditional UPDATE per cap (in the caps' order, whose
    /// row locks order every writer) and then each cap's reservation rows from <paramref name="rows"/>; then COMMIT when
    /// every UPDATE took the amount, or ROLLBACK, returning the first cap that refused. The predicate is re-checked after a
    /// concurrent writer's row lock is released (READ COMMITTED), so two instances can never both pass it with the same
    /// headroom. After the counters come the rows: the reconciler, holding a counter's lock, sees either both the amount
    /// and its row or neither. The connection is opened here, outside EF, so its tenant interceptor adds no round trips.
    /// </summary>
    private static async Task<CapRow?> ReserveInOneTripAsync(KeystoneDbContext db, List<ReservedCap> held, long amountMicros,
        long roomMicros, Func<ReservedCap, NpgsqlBatchCommand> rows, CancellationToken ct)
    {
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await connection.OpenAsync(ct);
        try
        {
            await using var tx = await connection.BeginTransactionAsync(ct);
            await using var batch = new NpgsqlBatch(connection, tx);
            batch.BatchCommands.Add(PostgresTenantInterceptor.TransactionSettings(db.Scope));
            foreach (var h in held)
            {
                batch.BatchCommands.Add(Command("""
                    UPDATE budget_counters SET reserved_micros = reserved_micros + @amount
                    WHERE budget_id = @budget AND period_start_utc = @period
                      AND spent_micros + reserved_micros + @amount + @room <= (SELECT limit_micros FROM budgets WHERE id = @budget)
                    """, ("amount", amountMicros), ("room", roomMicros), ("budget", h.Cap.BudgetId), ("period", h.PeriodStartUtc)));
            }

            foreach (var h in held)
            {
                batch.BatchCommands.Add(rows(h));
            }

            await batch.ExecuteNonQueryAsync(ct);
            for (var i = 0; i < held.Count; i++)
            {
                if (batch.BatchCommands[1 + i].RecordsAffected == 0)
                {
                    await tx.RollbackAsync(ct);
                    return held[i].Cap;
                }
            }

            await tx.CommitAsync(ct);
            return null;
        }
        finally
        {
            await connection.CloseAsync();
        }
    }

    /// <summary>A batch statement with named parameters.</summary>
    private static NpgsqlBatchCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter(name, value));
        }

        return command;
    }


    protected override async Task RaiseThresholdsAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> thresholds,
        CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(reservation.TenantId);
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

    /// <summary>
    /// Drops reservations older than the longest possible call (whoever made them: a live call cannot be that old), forgets
    /// settled rows whose call is recorded, and rebuilds the counters that need it from the database alone: at start every
    /// counter of the current periods, later the ones a stale or lost row touched. Live reservations of other instances
    /// stay (they are open rows younger than the bound).
    /// </summary>
    public override async Task<int> ReconcileAsync(bool atStart, CancellationToken ct)
    {
        var now = Clock.GetUtcNow().UtcDateTime;
        var staleBefore = now - StaleAfter;
        var holdStaleBefore = now - HoldLifetime;
        await using var db = DbFactory.ForSystem();
        // A batch line's hold (owner 'batch:…') lives as long as the provider's completion window, not a live call.
        var touched = await db.Database.SqlQuery<CounterKey>($"""
            DELETE FROM budget_reservations WHERE settled_micros IS NULL
              AND created_utc < (CASE WHEN owner LIKE 'batch:%' THEN {holdStaleBefore} ELSE {staleBefore} END)
            RETURNING budget_id, period_start_utc
            """).ToListAsync(ct);
        // A settled row whose call is recorded says nothing the call row does not; one whose call never got recorded
        // within the bound was lost with a crashed process's recorder queue: spent follows the recorded calls.
        touched.AddRange(await db.Database.SqlQuery<CounterKey>($"""
            DELETE FROM budget_reservations r WHERE r.settled_micros IS NOT NULL AND r.settled_utc < {staleBefore}
              AND NOT EXISTS (SELECT 1 FROM llm_calls c WHERE c.id = r.call_id)
            RETURNING r.budget_id, r.period_start_utc
            """).ToListAsync(ct));
        await db.Database.ExecuteSqlAsync($"""
            DELETE FROM budget_reservations r WHERE r.settled_micros IS NOT NULL
              AND EXISTS (SELECT 1 FROM llm_calls c WHERE c.id = r.call_id)
            """, ct);

        var current = await CurrentCountersAsync(db, ct);
        var corrected = 0;
        foreach (var (tenantId, cap, periodStart) in current)
        {
            if (atStart || touched.Contains(new CounterKey(cap.BudgetId, periodStart)))
            {
                corrected += await RebuildAsync(db, tenantId, cap, periodStart, ct) ? 1 : 0;
            }
        }

        return corrected;
    }

    /// <summary>A counter's key.</summary>
    private sealed record CounterKey(Guid BudgetId, DateTime PeriodStartUtc);

    /// <summary>
    /// Rebuilds one counter under its row lock. Every reservation and settlement changes the counter (taking that lock)
    /// in the transaction that writes its row, so once the lock is held each later statement sees every committed
    /// row that the counter's value reflects, and an uncommitted settlement still counts as open here and subtracts its
    /// amount after this commits. Pending settled rows are summed before the recorded calls, so a call recorded between
    /// the two statements counts twice until the next pass, never zero times.
    /// </summary>
    private static async Task<bool> RebuildAsync(KeystoneDbContext db, Guid tenantId, CapRow cap, DateTime periodStart, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var current = (await db.Database.SqlQuery<Sums>($"""
            SELECT spent_micros AS spent, reserved_micros AS reserved FROM budget_counters
            WHERE budget_id = {cap.BudgetId} AND period_start_utc = {periodStart} FOR UPDATE
            """).ToListAsync(ct)).SingleOrDefault();
        if (current is null)
        {
            return false;
        }

        var rows = (await db.Database.SqlQuery<Sums>($"""
            SELECT COALESCE(SUM(r.settled_micros) FILTER (WHERE r.settled_micros IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM llm_calls c WHERE c.id = r.call_id)), 0) AS spent,
                   COALESCE(SUM(r.amount_micros) FILTER (WHERE r.settled_micros IS NULL), 0) AS reserved
            FROM budget_reservations r WHERE r.budget_id = {cap.BudgetId} AND r.period_start_utc = {periodStart}
            """).ToListAsync(ct)).Single();
        var spent = rows.Spent + await RecordedSpendAsync(db, tenantId, cap, periodStart, ct);
        if (spent == current.Spent && rows.Reserved == current.Reserved)
        {
            await tx.CommitAsync(ct);
            return false;
        }

        await db.Database.ExecuteSqlAsync($"""
            UPDATE budget_counters SET spent_micros = {spent}, reserved_micros = {rows.Reserved}
            WHERE budget_id = {cap.BudgetId} AND period_start_utc = {periodStart}
            """, ct);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Spent and reserved as read.</summary>
    private sealed record Sums(long Spent, long Reserved);
}
