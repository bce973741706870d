using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Data.Calls;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Budgets;

/// <summary>
/// Reserves, settles and releases spend on the budget counters, all caps of a call or none. One implementation per
/// database mode, chosen when the gateway is registered: <see cref="PostgresBudgetLedger"/> (one conditional UPDATE per
/// cap in one transaction, correct across instances) and <see cref="SqliteBudgetLedger"/> (counters in memory under one
/// lock, persisted behind the request path). See docs/decisions/0009-budget-atomicity.md.
/// </summary>
/// <remarks>
/// What both modes share lives here: which caps apply, the period each reservation counts in, creating counter rows,
/// announcing a crossed soft threshold (audit entry and in-process event), retrying a settlement the database refused
/// (an answered call's spend is never dropped), and what a counter should hold when it is reconciled
/// (<see cref="ReconcileAsync"/>: spent = the recorded calls' cost, reserved = the calls really in flight).
/// </remarks>
internal abstract partial class BudgetLedger(
    KeystoneDbFactory dbFactory,
    BudgetEvents events,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock,
    ILogger<BudgetLedger> log)
    : IHostedService, IAsyncDisposable
{
    /// <summary>Settlement attempts on the request path before it is handed to the background retry.</summary>
    private const int InlineSettleAttempts = 3;

    private readonly ConcurrentDictionary<(Guid, DateTime), bool> _ensured = new();
    private readonly Channel<DeferredSettle> _deferred = Channel.CreateUnbounded<DeferredSettle>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopDeferred = new();
    private readonly Lock _retrierLock = new();
    private Task? _retrier;
    private int _deferredPending;

    private sealed record DeferredSettle(BudgetReservation Reservation, long ActualMicros, IReadOnlyList<int> Thresholds);

    protected KeystoneDbFactory DbFactory => dbFactory;

    protected TimeProvider Clock => clock;

    protected ILogger<BudgetLedger> Log => log;

    /// <summary>A reservation older than this belongs to no live call (<see cref="GatewayOptions.MaxCallDuration"/> plus the settlement's retries).</summary>
    protected TimeSpan StaleAfter => options.CurrentValue.ReservationStaleAfter;

    /// <summary>Settlements waiting for the database to come back.</summary>
    public int DeferredCount => Volatile.Read(ref _deferredPending);

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
    public Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveAsync(Guid tenantId, Guid callId, IReadOnlyList<CapRow> caps,
        long amountMicros, CancellationToken ct) => ReserveAsync(tenantId, callId, caps, amountMicros, 0, ct);

    /// <summary>
    /// Reserves <paramref name="amountMicros"/> on every cap only if each still has <paramref name="roomMicros"/> left over
    /// after it (nothing of the room is held). The pipeline reserves a rough upper bound this way only while the cap is far
    /// (decision 0048); a refusal with room asked is never shown to a caller, who is then counted exactly.
    /// </summary>
    public async Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveAsync(Guid tenantId, Guid callId, IReadOnlyList<CapRow> caps,
        long amountMicros, long roomMicros, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(roomMicros);
        if (caps.Count == 0)
        {
            return (BudgetReservation.None(tenantId), null);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var held = caps.OrderBy(c => c.BudgetId).Select(c => new ReservedCap(c, BudgetText.PeriodStart(c.Period, now))).ToList();
        return await ReserveHeldAsync(tenantId, callId, now, held, amountMicros, roomMicros, ct);
    }

    /// <summary>
    /// How long a batch line's hold (<see cref="BudgetReservation.IsHold"/>) is kept before the reconciler treats it as
    /// stale: the provider's 24 h completion window plus two hours for polling, fetching and settling late.
    /// </summary>
    public static readonly TimeSpan HoldLifetime = TimeSpan.FromHours(26);

    /// <summary>
    /// Holds every line of a provider batch on every cap, all lines or none, in one step (so two batches started at once
    /// cannot pass a cap together): the cap must have room for the sum. Each line gets its own reservation (its call id),
    /// settled like a live call's when its result arrives. Returns the first cap that refused the sum.
    /// </summary>
    public async Task<(IReadOnlyList<BudgetReservation>? Holds, BudgetRejection? Rejection)> ReserveHoldsAsync(Guid tenantId, IReadOnlyList<CapRow> caps,
        IReadOnlyList<(Guid CallId, long AmountMicros)> lines, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (caps.Count == 0)
        {
            return (lines.Select(l => new BudgetReservation(tenantId, l.AmountMicros, [], l.CallId, now, isHold: true)).ToList(), null);
        }

        foreach (var l in lines)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(l.AmountMicros);
        }

        var held = caps.OrderBy(c => c.BudgetId).Select(c => new ReservedCap(c, BudgetText.PeriodStart(c.Period, now))).ToList();
        return await ReserveHoldsHeldAsync(tenantId, now, held, lines, ct);
    }

    /// <summary>Reserves the lines' sum on every cap of <paramref name="held"/> (ordered by budget id), one reservation per line, or nothing.</summary>
    protected abstract Task<(IReadOnlyList<BudgetReservation>? Holds, BudgetRejection? Rejection)> ReserveHoldsHeldAsync(Guid tenantId, DateTime nowUtc,
        List<ReservedCap> held, IReadOnlyList<(Guid CallId, long AmountMicros)> lines, CancellationToken ct);

    /// <summary>
    /// The handles of holds made earlier by <see cref="ReserveHoldsAsync"/>, possibly by a process that has stopped since,
    /// to settle them. Where the holds live in the database (PostgreSQL) they are only handles; where they lived in the
    /// stopped process's memory (SQLite) a line not held any more is held again without a limit check: the provider has
    /// the request already, so the money is committed, and holding it keeps later calls from spending it twice.
    /// </summary>
    public abstract Task<IReadOnlyList<BudgetReservation>> RestoreHoldsAsync(Guid tenantId, IReadOnlyList<ReservedCap> held,
        IReadOnlyList<(Guid CallId, long AmountMicros)> lines, DateTime createdUtc, CancellationToken ct);

    /// <summary>
    /// Replaces the reservation by the actual cost (0 to release it) and raises crossed soft thresholds. Never throws for a
    /// database that refuses: it tries <see cref="InlineSettleAttempts"/> times, then hands the settlement to a background
    /// retry and returns false (the caller records the call with the failure; the answer still goes out).
    /// </summary>
    /// <returns>False when the settlement was deferred.</returns>
    public async Task<bool> SettleAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent, CancellationToken ct)
    {
        if (reservation.Caps.Count == 0 || !reservation.TryClose())
        {
            return true;
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await SettleHeldAsync(reservation, actualMicros, softThresholdsPercent, ct);
                break;
            }
            catch (Exception ex) when (attempt < InlineSettleAttempts)
            {
                LogSettleRetry(log, ex, reservation.TenantId, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt * attempt), clock, CancellationToken.None);
            }
            catch (Exception ex)
            {
                LogSettleDeferred(log, ex, reservation.TenantId, reservation.CallId);
                Defer(new DeferredSettle(reservation, actualMicros, softThresholdsPercent));
                return false;
            }
        }

        await AnnounceCrossedAsync(reservation, actualMicros, softThresholdsPercent, ct);
        return true;
    }

    /// <summary>
    /// Reserves on every cap of <paramref name="held"/> (ordered by budget id) when spent + reserved + amount + room stays
    /// within each limit, or on none.
    /// </summary>
    protected abstract Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveHeldAsync(Guid tenantId, Guid callId, DateTime nowUtc,
        List<ReservedCap> held, long amountMicros, long roomMicros, CancellationToken ct);

    /// <summary>
    /// Settles an open reservation (closed once by <see cref="SettleAsync"/>). Must be safe to repeat after a failure
    /// whose commit may have landed (the retry must not count the cost twice).
    /// </summary>
    protected abstract Task SettleHeldAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent,
        CancellationToken ct);

    /// <summary>Raises the soft thresholds the settlement crossed; a failure here is logged, never the call's failure.</summary>
    protected abstract Task RaiseThresholdsAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> softThresholdsPercent,
        CancellationToken ct);

    /// <summary>
    /// Reconciles the counters of the current periods. <paramref name="atStart"/>: nothing of this process is in flight
    /// yet. Returns how many counters were corrected.
    /// </summary>
    public abstract Task<int> ReconcileAsync(bool atStart, CancellationToken ct);

    private async Task AnnounceCrossedAsync(BudgetReservation reservation, long actualMicros, IReadOnlyList<int> thresholds, CancellationToken ct)
    {
        if (actualMicros <= 0 || thresholds.Count == 0)
        {
            return;
        }

        try
        {
            await RaiseThresholdsAsync(reservation, actualMicros, thresholds, ct);
        }
        catch (Exception ex)
        {
            LogThresholdFailed(log, ex, reservation.TenantId);
        }
    }

    private void Defer(DeferredSettle settle)
    {
        Interlocked.Increment(ref _deferredPending);
        _deferred.Writer.TryWrite(settle);
        lock (_retrierLock)
        {
            _retrier ??= Task.Run(RetryDeferredAsync);
        }
    }

    /// <summary>
    /// Retries deferred settlements in order, backing off to 30 s, until they land or their reservation is stale (the
    /// reconciler then counts the recorded call's cost and drops the reservation).
    /// </summary>
    private async Task RetryDeferredAsync()
    {
        var stop = _stopDeferred.Token;
        try
        {
            await foreach (var d in _deferred.Reader.ReadAllAsync(stop))
            {
                await RetryOneAsync(d, stop);
                Interlocked.Decrement(ref _deferredPending);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping: what is left is reconciled at the next start.
        }
    }

    private async Task RetryOneAsync(DeferredSettle d, CancellationToken stop)
    {
        for (var delay = TimeSpan.FromMilliseconds(500); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks)))
        {
            if (clock.GetUtcNow().UtcDateTime - d.Reservation.CreatedUtc > StaleAfter)
            {
                LogSettleGivenUp(log, d.Reservation.TenantId, d.Reservation.CallId);
                break;
            }

            try
            {
                await SettleHeldAsync(d.Reservation, d.ActualMicros, d.Thresholds, stop);
                await AnnounceCrossedAsync(d.Reservation, d.ActualMicros, d.Thresholds, stop);
                LogSettleRecovered(log, d.Reservation.TenantId, d.Reservation.CallId);
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stop.IsCancellationRequested)
            {
                LogSettleRetry(log, ex, d.Reservation.TenantId, 0);
                await Task.Delay(delay, clock, stop);
            }
        }
    }

    /// <summary>Waits (bounded) for deferred settlements to land; tests and a graceful stop.</summary>
    public async Task DrainDeferredAsync(TimeSpan timeout)
    {
        var until = clock.GetUtcNow() + timeout;
        while (DeferredCount > 0 && clock.GetUtcNow() < until)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), clock);
        }
    }

    /// <summary>
    /// What the calls recorded for <paramref name="cap"/> in the period starting at <paramref name="periodStartUtc"/>
    /// cost: the calls a reservation on it would have counted (support replays never count against a tenant's caps).
    /// </summary>
    protected static async Task<long> RecordedSpendAsync(KeystoneDbContext db, Guid tenantId, CapRow cap, DateTime periodStartUtc, CancellationToken ct)
    {
        var end = BudgetText.PeriodEnd(cap.Period, periodStartUtc);
        var calls = db.Calls.AsNoTracking()
            .Where(c => c.TenantId == tenantId && c.CreatedUtc >= periodStartUtc && c.CreatedUtc < end && c.BilledTo != BilledTo.Support);
        var key = cap.Key;
        calls = cap.Scope switch
        {
            BudgetScope.Tenant => calls,
            BudgetScope.User => calls.Where(c => c.UserId == key || c.EndUser == key),
            BudgetScope.Feature => calls.Where(c => c.Feature == key),
            _ => Guid.TryParse(key, out var keyId) ? calls.Where(c => c.ApiKeyId == keyId) : calls.Where(c => false),
        };
        return await calls.SumAsync(c => (long?)c.CostMicros, ct) ?? 0;
    }

    /// <summary>The caps with counters in the current periods, with the tenant they belong to (every tenant: system scope).</summary>
    protected async Task<List<(Guid TenantId, CapRow Cap, DateTime PeriodStartUtc)>> CurrentCountersAsync(KeystoneDbContext db, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var day = BudgetText.PeriodStart(BudgetPeriod.Day, now);
        var month = BudgetText.PeriodStart(BudgetPeriod.Month, now);
        var rows = await (from c in db.BudgetCounters.AsNoTracking()
                          join b in db.Budgets.AsNoTracking() on c.BudgetId equals b.Id
                          where c.PeriodStartUtc == day || c.PeriodStartUtc == month
                          select new { c.TenantId, c.PeriodStartUtc, b.Id, b.Scope, b.Key, b.Period, b.LimitMicros }).ToListAsync(ct);
        return rows
            .Select(r => (r.TenantId, new CapRow(r.Id, BudgetText.ParseScope(r.Scope), r.Key, BudgetText.ParsePeriod(r.Period), r.LimitMicros), r.PeriodStartUtc))
            .Where(r => r.PeriodStartUtc == BudgetText.PeriodStart(r.Item2.Period, now))
            .ToList();
    }

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

    public virtual async ValueTask DisposeAsync()
    {
        await _stopDeferred.CancelAsync();
        if (_retrier is { } retrier)
        {
            await retrier;
        }

        // The token source is not disposed: the container disposes this object twice (as itself and as a hosted service).
    }

    /// <summary>
    /// Counts a refusal on the cap that refused and keeps its reason, for the budgets page (issue 21). The same statement
    /// in both modes: the SQLite ledger's flush writes only spend, reservations and thresholds, so it never overwrites
    /// these columns. Best effort: a database that refuses this write does not change the answer (the call is refused
    /// either way, and llm_calls records it with <c>budget_exceeded</c>).
    /// </summary>
    public async Task RecordRefusalAsync(Guid tenantId, Guid budgetId, DateTime periodStartUtc, string reason, DateTime nowUtc, CancellationToken ct)
    {
        var text = reason.Length > 400 ? reason[..400] : reason;
        try
        {
            await using var db = dbFactory.ForTenant(tenantId);
            await db.Database.ExecuteSqlAsync($"""
                UPDATE budget_counters SET refused_count = refused_count + 1, last_refusal_reason = {text}, last_refused_utc = {nowUtc}
                WHERE budget_id = {budgetId} AND period_start_utc = {periodStartUtc}
                """, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRefusalNotCounted(log, ex, tenantId);
        }
    }

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

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Settling a budget reservation of tenant {TenantId} failed (attempt {Attempt}); retrying")]
    private static partial void LogSettleRetry(ILogger log, Exception ex, Guid tenantId, int attempt);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Error, Message = "Settling the budget reservation of call {CallId} (tenant {TenantId}) failed; it is retried in the background and the call is recorded with settlement_failed")]
    private static partial void LogSettleDeferred(ILogger log, Exception ex, Guid tenantId, Guid callId);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Information, Message = "The deferred settlement of call {CallId} (tenant {TenantId}) landed")]
    private static partial void LogSettleRecovered(ILogger log, Guid tenantId, Guid callId);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Error, Message = "The deferred settlement of call {CallId} (tenant {TenantId}) is stale; the reconciler corrects its counters from the recorded calls")]
    private static partial void LogSettleGivenUp(ILogger log, Guid tenantId, Guid callId);

    [LoggerMessage(EventId = 3120, Level = LogLevel.Warning, Message = "Counting a budget refusal of tenant {TenantId} failed; the call was refused all the same")]
    private static partial void LogRefusalNotCounted(ILogger log, Exception ex, Guid tenantId);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Error, Message = "Announcing a crossed soft threshold of tenant {TenantId} failed")]
    private static partial void LogThresholdFailed(ILogger log, Exception ex, Guid tenantId);

    [LoggerMessage(EventId = 3100, Level = LogLevel.Warning, Message = "Budget soft threshold {ThresholdPercent}% crossed for tenant {TenantId} ({Scope} cap)")]
    private static partial void LogThreshold(ILogger log, Guid tenantId, string scope, int thresholdPercent);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Error, Message = "A budget threshold handler failed")]
    private static partial void LogHandlerFailed(ILogger log, Exception ex);
}
