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
/// Reserves, settles and releases spend on the budget counters, all caps of a call or none.
/// On PostgreSQL every cap is reserved in one transaction with one conditional UPDATE per cap
/// (<c>spent + reserved + x &lt;= limit</c>): correct across instances (row locks, re-checked predicate).
/// On SQLite (one instance by design) the counters are held in memory and changed atomically under one lock, and
/// persisted behind the request path every <see cref="FlushInterval"/> and on shutdown, so a capped call never
/// waits on the database file the recorder is writing. See docs/decisions/0009-budget-atomicity.md.
/// </summary>
internal sealed partial class BudgetLedger : IHostedService, IAsyncDisposable
{
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);

    private readonly KeystoneDbFactory _dbFactory;
    private readonly BudgetEvents _events;
    private readonly TimeProvider _clock;
    private readonly ILogger<BudgetLedger> _log;
    private readonly ConcurrentDictionary<(Guid, DateTime), bool> _ensured = new();
    private readonly SemaphoreSlim _loadLock = new(1, 1);
    private readonly SemaphoreSlim _flushLock = new(1, 1);
    private readonly Lock _memLock = new();
    private readonly Dictionary<(Guid BudgetId, DateTime Period), MemCounter> _mem = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _flusher;

    public BudgetLedger(KeystoneDbFactory dbFactory, BudgetEvents events, TimeProvider clock, ILogger<BudgetLedger> log)
    {
        _dbFactory = dbFactory;
        _events = events;
        _clock = clock;
        _log = log;
        _flusher = IsSqlite ? Task.Run(FlushLoopAsync) : Task.CompletedTask;
    }

    private bool IsSqlite => _dbFactory.Provider == DatabaseProvider.Sqlite;

    private sealed class MemCounter
    {
        public long Spent;
        public long Reserved;
        public int Fired;
        public bool Dirty;
    }

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

        var now = _clock.GetUtcNow().UtcDateTime;
        var held = caps.OrderBy(c => c.BudgetId).Select(c => new ReservedCap(c, BudgetText.PeriodStart(c.Period, now))).ToList();
        if (IsSqlite)
        {
            return await ReserveInMemoryAsync(tenantId, held, amountMicros, ct);
        }

        await using var db = _dbFactory.ForTenant(tenantId);
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
        return (null, new BudgetRejection(refused, counter?.SpentMicros ?? 0, counter?.ReservedMicros ?? 0,
            BudgetText.PeriodEnd(refused.Period, period)));
    }

    /// <summary>Replaces the reservation by the actual cost (0 to release it) and raises crossed soft thresholds.</summary>
    public async Task SettleAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent, CancellationToken ct)
    {
        if (reservation.Caps.Count == 0 || !reservation.TryClose())
        {
            return;
        }

        if (IsSqlite)
        {
            foreach (var (cap, percent, spent) in SettleInMemory(reservation, actualMicros, softThresholdsPercent))
            {
                await AnnounceAsync(reservation.TenantId, cap, percent, spent, ct);
            }

            return;
        }

        await using var db = _dbFactory.ForTenant(reservation.TenantId);
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

    private async Task<(BudgetReservation?, BudgetRejection?)> ReserveInMemoryAsync(Guid tenantId, List<ReservedCap> held, long amount,
        CancellationToken ct)
    {
        await LoadCountersAsync(tenantId, held, ct);
        lock (_memLock)
        {
            foreach (var h in held)
            {
                var c = _mem[(h.Cap.BudgetId, h.PeriodStartUtc)];
                if (c.Spent + c.Reserved + amount > h.Cap.LimitMicros)
                {
                    return (null, new BudgetRejection(h.Cap, c.Spent, c.Reserved, BudgetText.PeriodEnd(h.Cap.Period, h.PeriodStartUtc)));
                }
            }

            foreach (var h in held)
            {
                var c = _mem[(h.Cap.BudgetId, h.PeriodStartUtc)];
                c.Reserved += amount;
                c.Dirty = true;
            }
        }

        return (new BudgetReservation(tenantId, amount, held), null);
    }

    private List<(ReservedCap Cap, int Percent, long Spent)> SettleInMemory(BudgetReservation reservation, long actual, IReadOnlyList<int> thresholds)
    {
        var crossed = new List<(ReservedCap, int, long)>();
        lock (_memLock)
        {
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
            await using var db = _dbFactory.ForTenant(tenantId);
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

    /// <summary>Writes changed in-memory counters (SQLite mode); a no-op on PostgreSQL, whose counters live in the database.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        if (!IsSqlite)
        {
            return;
        }

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
                await using var db = _dbFactory.ForSystem();
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

    private async Task FlushLoopAsync()
    {
        using var timer = new PeriodicTimer(FlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                try
                {
                    await FlushAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogFlushFailed(_log, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: StopAsync writes the last changes.
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Writes the last counter changes before the host stops.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        await _flusher;
        await FlushAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _flusher;
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

    /// <summary>Records that a threshold fired (audit entry, actor type system) and raises the in-process event.</summary>
    private async Task AnnounceAsync(Guid tenantId, ReservedCap h, int crossed, long spent, CancellationToken ct)
    {
        var e = new BudgetThresholdCrossed(tenantId, h.Cap.Scope, h.Cap.Key, h.Cap.Period, crossed, h.Cap.LimitMicros, spent, h.PeriodStartUtc);
        await using (var audit = _dbFactory.ForSystem())
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
                CreatedUtc = _clock.GetUtcNow().UtcDateTime,
            });
            await audit.SaveChangesAsync(ct);
        }

        LogThreshold(_log, tenantId, BudgetText.Of(e.Scope), crossed);
        try
        {
            _events.Raise(e);
        }
        catch (Exception ex)
        {
            LogHandlerFailed(_log, ex);
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

    /// <summary>Forgets the counters of removed caps (their rows went with them).</summary>
    public void Forget(IReadOnlyCollection<Guid> budgetIds)
    {
        foreach (var key in _ensured.Keys.Where(k => budgetIds.Contains(k.Item1)))
        {
            _ensured.TryRemove(key, out _);
        }

        lock (_memLock)
        {
            foreach (var key in _mem.Keys.Where(k => budgetIds.Contains(k.BudgetId)).ToList())
            {
                _mem.Remove(key);
            }
        }
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Warning, Message = "Budget soft threshold {ThresholdPercent}% crossed for tenant {TenantId} ({Scope} cap)")]
    private static partial void LogThreshold(ILogger log, Guid tenantId, string scope, int thresholdPercent);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Error, Message = "A budget threshold handler failed")]
    private static partial void LogHandlerFailed(ILogger log, Exception ex);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Error, Message = "Writing budget counters failed; retrying on the next tick")]
    private static partial void LogFlushFailed(ILogger log, Exception ex);
}
