using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Budgets;

/// <summary>
/// The budget ledger on SQLite (one instance by design): the counters are held in memory and changed atomically under
/// one lock, and persisted behind the request path every <see cref="FlushInterval"/> and on shutdown, so a capped call
/// never waits on the database file the recorder is writing.
/// </summary>
/// <remarks>
/// One instance holds every reservation, so the calls in flight are the open reservations in this process's memory: at
/// start there are none (whatever the file says was left by a stopped or crashed process), and the periodic
/// <see cref="ReconcileAsync"/> sets each counter's reserved amount to its open reservations, dropping any older than
/// the longest possible call.
/// <para>Every write of the counters (the periodic one, and the one a budget read asks for through
/// <see cref="FlushAsync"/>) runs on a thread of its own, never on the thread pool (issue 26): Microsoft.Data.Sqlite's
/// "async" calls run synchronously, and one that meets the write lock (held by the call recorder's batches and the trace
/// indexer's passes) sleeps 150 ms in its busy loop on the calling thread. On a pool thread, five times a second, that
/// stalled every request in flight for 150 ms (goodput below 500 req/s with recording on; decision 0059).</para>
/// </remarks>
internal sealed partial class SqliteBudgetLedger : BudgetLedger
{
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);

    private readonly SemaphoreSlim _loadLock = new(1, 1);
    private readonly SemaphoreSlim _flushLock = new(1, 1);
    private readonly Lock _memLock = new();
    private readonly Dictionary<(Guid BudgetId, DateTime Period), MemCounter> _mem = [];
    private readonly HashSet<BudgetReservation> _open = [];
    private readonly WriterThread _writer;

    public SqliteBudgetLedger(KeystoneDbFactory dbFactory, BudgetEvents events, IOptionsMonitor<GatewayOptions> options, TimeProvider clock,
        ILogger<BudgetLedger> log)
        : base(dbFactory, events, options, clock, log)
    {
        // Every FlushInterval, and at once when a budget read asks (FlushAsync).
        _writer = new WriterThread(FlushThreadName, () => FlushInterval, WriteCountersAsync, ex => LogFlushFailed(Log, ex));
    }

    /// <summary>The name of the thread that writes the counters (at most 15 characters: Linux shows no more).</summary>
    internal const string FlushThreadName = "ks-budget-flush";

    private sealed class MemCounter
    {
        public long Spent;
        public long Reserved;
        public int Fired;
        public bool Dirty;
    }

    protected override async Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveHeldAsync(Guid tenantId, Guid callId,
        DateTime nowUtc, List<ReservedCap> held, long amountMicros, long roomMicros, CancellationToken ct)
    {
        await LoadCountersAsync(tenantId, held, ct);
        lock (_memLock)
        {
            foreach (var h in held)
            {
                var c = _mem[(h.Cap.BudgetId, h.PeriodStartUtc)];
                if (c.Spent + c.Reserved + amountMicros + roomMicros > h.Cap.LimitMicros)
                {
                    return (null, new BudgetRejection(h.Cap, c.Spent, c.Reserved, BudgetText.PeriodEnd(h.Cap.Period, h.PeriodStartUtc)));
                }
            }

            foreach (var h in held)
            {
                var c = _mem[(h.Cap.BudgetId, h.PeriodStartUtc)];
                c.Reserved += amountMicros;
                c.Dirty = true;
            }

            var reservation = new BudgetReservation(tenantId, amountMicros, held, callId, nowUtc);
            _open.Add(reservation);
            return (reservation, null);
        }
    }

    protected override async Task<(IReadOnlyList<BudgetReservation>? Holds, BudgetRejection? Rejection)> ReserveHoldsHeldAsync(Guid tenantId,
        DateTime nowUtc, List<ReservedCap> held, IReadOnlyList<(Guid CallId, long AmountMicros)> lines, CancellationToken ct)
    {
        var total = lines.Aggregate(0L, (sum, l) => checked(sum + l.AmountMicros));
        await LoadCountersAsync(tenantId, held, ct);
        lock (_memLock)
        {
            foreach (var h in held)
            {
                var c = _mem[(h.Cap.BudgetId, h.PeriodStartUtc)];
                if (c.Spent + c.Reserved + total > h.Cap.LimitMicros)
                {
                    return (null, new BudgetRejection(h.Cap, c.Spent, c.Reserved, BudgetText.PeriodEnd(h.Cap.Period, h.PeriodStartUtc)));
                }
            }

            foreach (var h in held)
            {
                var c = _mem[(h.Cap.BudgetId, h.PeriodStartUtc)];
                c.Reserved += total;
                c.Dirty = true;
            }

            var holds = lines.Select(l => new BudgetReservation(tenantId, l.AmountMicros, held, l.CallId, nowUtc, isHold: true)).ToList();
            _open.UnionWith(holds);
            return (holds, null);
        }
    }

    public override async Task<IReadOnlyList<BudgetReservation>> RestoreHoldsAsync(Guid tenantId, IReadOnlyList<ReservedCap> held,
        IReadOnlyList<(Guid CallId, long AmountMicros)> lines, DateTime createdUtc, CancellationToken ct)
    {
        if (held.Count == 0)
        {
            return lines.Select(l => new BudgetReservation(tenantId, l.AmountMicros, [], l.CallId, createdUtc, isHold: true)).ToList();
        }

        await LoadCountersAsync(tenantId, [.. held], ct);
        lock (_memLock)
        {
            var open = _open.Where(r => r.IsHold).ToDictionary(r => r.CallId);
            var result = new List<BudgetReservation>(lines.Count);
            foreach (var l in lines)
            {
                if (open.TryGetValue(l.CallId, out var existing))
                {
                    result.Add(existing);
                    continue;
                }

                // Held by a process that stopped (this ledger's memory started empty): held again, without a limit check,
                // because the provider has the request and the money is committed.
                var restored = new BudgetReservation(tenantId, l.AmountMicros, held, l.CallId, createdUtc, isHold: true);
                foreach (var h in held)
                {
                    if (_mem.TryGetValue((h.Cap.BudgetId, h.PeriodStartUtc), out var c))
                    {
                        c.Reserved += l.AmountMicros;
                        c.Dirty = true;
                    }
                }

                _open.Add(restored);
                result.Add(restored);
            }

            return result;
        }
    }

    protected override async Task SettleHeldAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent,
        CancellationToken ct)
    {
        // In memory: it cannot fail, so it is never retried, and the announcement (a database write) must not fail it.
        foreach (var (cap, percent, spent) in SettleInMemory(reservation, actualMicros, softThresholdsPercent))
        {
            try
            {
                await AnnounceAsync(reservation.TenantId, cap, percent, spent, ct);
            }
            catch (Exception ex)
            {
                LogAnnounceFailed(Log, ex, reservation.TenantId);
            }
        }
    }

    /// <summary>Announced by <see cref="SettleHeldAsync"/>, which crosses thresholds in the same lock as it settles.</summary>
    protected override Task RaiseThresholdsAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent,
        CancellationToken ct) => Task.CompletedTask;

    /// <summary>
    /// At start (nothing in flight): every counter of the current periods gets spent = its recorded calls' cost and
    /// reserved = 0, in the database before any counter is loaded. Later: reserved = the open reservations of this
    /// process, those older than the longest possible call dropped.
    /// </summary>
    public override async Task<int> ReconcileAsync(bool atStart, CancellationToken ct)
    {
        bool loaded;
        lock (_memLock)
        {
            loaded = _mem.Count > 0;
        }

        return atStart && !loaded ? await ReconcileStoredAsync(ct) : ReconcileInMemory();
    }

    private async Task<int> ReconcileStoredAsync(CancellationToken ct)
    {
        await using var db = DbFactory.ForSystem();
        var corrected = 0;
        foreach (var (tenantId, cap, periodStart) in await CurrentCountersAsync(db, ct))
        {
            var spent = await RecordedSpendAsync(db, tenantId, cap, periodStart, ct);
            corrected += await db.Database.ExecuteSqlAsync($"""
                UPDATE budget_counters SET spent_micros = {spent}, reserved_micros = 0
                WHERE budget_id = {cap.BudgetId} AND period_start_utc = {periodStart}
                  AND (spent_micros <> {spent} OR reserved_micros <> 0)
                """, ct);
        }

        return corrected;
    }

    private int ReconcileInMemory()
    {
        var staleBefore = Clock.GetUtcNow().UtcDateTime - StaleAfter;
        lock (_memLock)
        {
            var holdStaleBefore = Clock.GetUtcNow().UtcDateTime - HoldLifetime;
            _open.RemoveWhere(r => r.CreatedUtc < (r.IsHold ? holdStaleBefore : staleBefore) && r.TryClose());
            var inFlight = new Dictionary<(Guid, DateTime), long>();
            foreach (var r in _open)
            {
                foreach (var h in r.Caps)
                {
                    inFlight[(h.Cap.BudgetId, h.PeriodStartUtc)] = inFlight.GetValueOrDefault((h.Cap.BudgetId, h.PeriodStartUtc)) + r.AmountMicros;
                }
            }

            var corrected = 0;
            foreach (var (key, c) in _mem)
            {
                var reserved = inFlight.GetValueOrDefault(key);
                if (c.Reserved != reserved)
                {
                    c.Reserved = reserved;
                    c.Dirty = true;
                    corrected++;
                }
            }

            return corrected;
        }
    }

    private List<(ReservedCap Cap, int Percent, long Spent)> SettleInMemory(BudgetReservation reservation, long actual, IReadOnlyList<int> thresholds)
    {
        var crossed = new List<(ReservedCap, int, long)>();
        lock (_memLock)
        {
            _open.Remove(reservation);
            foreach (var h in reservation.Caps)
            {
                if (!_mem.TryGetValue((h.Cap.BudgetId, h.PeriodStartUtc), out var c))
                {
                    continue; // The cap was removed while the call ran.
                }

                c.Reserved -= reservation.AmountMicros;
                c.Spent += actual;
                c.Dirty = true;
                var top = thresholds.Where(t => t > c.Fired && c.Spent * 100 >= h.Cap.LimitMicros * t).DefaultIfEmpty(0).Max();
                if (top > 0)
                {
                    c.Fired = top;
                    crossed.Add((h, top, c.Spent));
                }
            }
        }

        return crossed;
    }

    /// <summary>Brings counters into memory (creating their rows). A reservation left by a stopped process is dropped.</summary>
    private async Task LoadCountersAsync(Guid tenantId, List<ReservedCap> held, CancellationToken ct)
    {
        lock (_memLock)
        {
            if (held.TrueForAll(h => _mem.ContainsKey((h.Cap.BudgetId, h.PeriodStartUtc))))
            {
                return;
            }
        }

        await _loadLock.WaitAsync(ct);
        try
        {
            await using var db = DbFactory.ForTenant(tenantId);
            foreach (var h in held)
            {
                var key = (h.Cap.BudgetId, h.PeriodStartUtc);
                lock (_memLock)
                {
                    if (_mem.ContainsKey(key))
                    {
                        continue;
                    }
                }

                await EnsureCountersAsync(db, tenantId, [h], ct);
                var row = await db.BudgetCounters.AsNoTracking()
                    .Where(c => c.BudgetId == h.Cap.BudgetId && c.PeriodStartUtc == h.PeriodStartUtc)
                    .Select(c => new { c.SpentMicros, c.FiredThresholdPercent }).SingleAsync(ct);
                lock (_memLock)
                {
                    _mem[key] = new MemCounter { Spent = row.SpentMicros, Fired = row.FiredThresholdPercent, Dirty = true };
                }
            }
        }
        finally
        {
            _loadLock.Release();
        }
    }

    /// <summary>
    /// Writes changed in-memory counters, on the ledger's thread (see the remarks): a caller (a budget read in the console
    /// or the API) waits for that write without holding a pool thread while the database is busy. Once the thread has
    /// ended (the host stopping), the caller writes itself.
    /// </summary>
    public override Task FlushAsync(CancellationToken ct) => _writer.WriteNowAsync(ct);

    private async Task WriteCountersAsync(CancellationToken ct)
    {
        await _flushLock.WaitAsync(ct);
        try
        {
            List<(Guid BudgetId, DateTime Period, long Spent, long Reserved, int Fired)> dirty;
            lock (_memLock)
            {
                dirty = [.. _mem.Where(e => e.Value.Dirty).Select(e => (e.Key.BudgetId, e.Key.Period, e.Value.Spent, e.Value.Reserved, e.Value.Fired))];
                foreach (var e in _mem.Values)
                {
                    e.Dirty = false;
                }
            }

            if (dirty.Count == 0)
            {
                return;
            }

            try
            {
                await using var db = DbFactory.ForSystem();
                await using var tx = await db.Database.BeginTransactionAsync(ct);
                foreach (var d in dirty)
                {
                    await db.Database.ExecuteSqlAsync($"""
                        UPDATE budget_counters SET spent_micros = {d.Spent}, reserved_micros = {d.Reserved}, fired_threshold_percent = {d.Fired}
                        WHERE budget_id = {d.BudgetId} AND period_start_utc = {d.Period}
                        """, ct);
                }

                await tx.CommitAsync(ct);
            }
            catch
            {
                lock (_memLock)
                {
                    foreach (var d in dirty)
                    {
                        if (_mem.TryGetValue((d.BudgetId, d.Period), out var c))
                        {
                            c.Dirty = true;
                        }
                    }
                }

                throw;
            }
        }
        finally
        {
            _flushLock.Release();
        }
    }

    /// <summary>Writes the last counter changes before the host stops.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _writer.StopAsync();
        await FlushAsync(cancellationToken);
    }

    public override async ValueTask DisposeAsync()
    {
        await _writer.DisposeAsync();
        await base.DisposeAsync();
    }

    public override void Forget(IReadOnlyCollection<Guid> budgetIds)
    {
        base.Forget(budgetIds);
        lock (_memLock)
        {
            foreach (var key in _mem.Keys.Where(k => budgetIds.Contains(k.BudgetId)).ToList())
            {
                _mem.Remove(key);
            }
        }
    }

    [LoggerMessage(EventId = 3108, Level = LogLevel.Error, Message = "Announcing a crossed soft threshold of tenant {TenantId} failed")]
    private static partial void LogAnnounceFailed(ILogger log, Exception ex, Guid tenantId);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Error, Message = "Writing budget counters failed; retrying on the next tick")]
    private static partial void LogFlushFailed(ILogger log, Exception ex);
}
