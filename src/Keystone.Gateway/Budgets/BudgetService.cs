using Keystone.Data;
using Keystone.Data.Budgets;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Budgets;

/// <summary>Reads and sets a tenant's caps, thresholds and action at limit, with the current period's counters.</summary>
internal sealed class BudgetService(
    KeystoneDbFactory dbFactory,
    TenantSettings settings,
    BudgetLedger ledger,
    IOptionsMonitor<GatewayOptions> options,
    IGatewayPricing pricing,
    TimeProvider clock) : IBudgetService
{
    public async Task<TenantBudget> GetAsync(Guid tenantId, CancellationToken ct)
    {
        await ledger.FlushAsync(ct);
        await using var db = dbFactory.ForTenant(tenantId);
        var now = clock.GetUtcNow().UtcDateTime;
        var caps = await db.Budgets.AsNoTracking().Where(b => b.TenantId == tenantId).ToListAsync(ct);
        var ids = caps.Select(c => c.Id).ToList();
        var dayStart = BudgetText.PeriodStart(BudgetPeriod.Day, now);
        var monthStart = BudgetText.PeriodStart(BudgetPeriod.Month, now);
        var counters = await db.BudgetCounters.AsNoTracking()
            .Where(c => ids.Contains(c.BudgetId) && (c.PeriodStartUtc == dayStart || c.PeriodStartUtc == monthStart))
            .ToListAsync(ct);
        var s = await db.BudgetSettings.AsNoTracking().FirstOrDefaultAsync(x => x.TenantId == tenantId, ct);

        var (fitModel, fitPrice) = caps.Count == 0 ? (null, null) : await FitPriceAsync(db, tenantId, now, ct);

        var statuses = caps.Select(c =>
        {
            var period = BudgetText.ParsePeriod(c.Period);
            var start = period == BudgetPeriod.Day ? dayStart : monthStart;
            var counter = counters.FirstOrDefault(x => x.BudgetId == c.Id && x.PeriodStartUtc == start);
            var left = Math.Max(0, c.LimitMicros - (counter?.SpentMicros ?? 0) - (counter?.ReservedMicros ?? 0));
            return new BudgetCapStatus(BudgetText.ParseScope(c.Scope), c.Key.Length == 0 ? null : c.Key, period, c.LimitMicros,
                counter?.SpentMicros ?? 0, counter?.ReservedMicros ?? 0, start, BudgetText.PeriodEnd(period, start),
                counter?.RefusedCount ?? 0, counter?.LastRefusalReason,
                counter?.LastRefusedUtc is { } at ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : null,
                fitPrice is null ? null : OutputTokensFitting(fitPrice, left));
        }).OrderBy(c => c.Scope).ThenBy(c => c.Key).ThenBy(c => c.Period).ToList();

        return new TenantBudget(statuses,
            s is null ? options.CurrentValue.DefaultSoftThresholdsPercent : BudgetText.ParseThresholds(s.SoftThresholdsPercent),
            s is null ? BudgetAction.Block : BudgetText.ParseAction(s.ActionAtLimit), fitModel, s?.UserRequestsPerMinute);
    }

    /// <summary>
    /// The price "what still fits" is figured on: the model of the tenant's latest answered call (what its members use),
    /// else the dearest chat price in the table (a floor: any model fits at least that many tokens).
    /// </summary>
    private async Task<(string? Model, GatewayPrice? Price)> FitPriceAsync(KeystoneDbContext db, Guid tenantId, DateTime now, CancellationToken ct)
    {
        var latest = await db.Calls.AsNoTracking()
            .Where(c => c.TenantId == tenantId && c.Status == Keystone.Data.Calls.CallStatus.Ok && c.Provider != null && c.Model != null)
            .OrderByDescending(c => c.CreatedUtc).Select(c => new { c.Provider, c.Model }).FirstOrDefaultAsync(ct);
        if (latest is not null && await pricing.FindAsync(latest.Provider!, latest.Model!, now, ct) is { } price)
        {
            return ($"{latest.Provider}/{latest.Model}", price);
        }

        var dearest = await pricing.HighestAsync(embedding: false, ct);
        return dearest is null ? (null, null) : ("the dearest priced chat model", dearest);
    }

    /// <summary>Output tokens whose cost fits <paramref name="leftMicros"/> (a prompt of zero tokens: "about").</summary>
    private static int OutputTokensFitting(GatewayPrice price, long leftMicros)
    {
        int lo = 0, hi = 1_000_000;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo + 1) / 2);
            if (price.WorstCaseMicros(0, mid) <= leftMicros)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    public async Task<TenantBudget> SetAsync(Guid tenantId, IReadOnlyList<BudgetCapInput> caps, IReadOnlyList<int>? softThresholdsPercent,
        BudgetAction? actionAtLimit, UserRateChange? userRequestsPerMinute, CancellationToken ct)
    {
        Validate(caps, softThresholdsPercent, userRequestsPerMinute);
        // One row per scope + key + period: a PUT naming the same cap twice keeps its last limit, as a replace would.
        var rows = caps.Select(c => (Scope: BudgetText.Of(c.Scope), Key: c.Scope == BudgetScope.Tenant ? "" : c.Key!.Trim(),
                Period: BudgetText.Of(c.Period), c.LimitMicros))
            .GroupBy(c => (c.Scope, c.Key, c.Period)).Select(g => g.Last())
            // Always the same order, so two writers lock the rows in the same order and cannot deadlock each other.
            .OrderBy(c => c.Scope, StringComparer.Ordinal).ThenBy(c => c.Key, StringComparer.Ordinal).ThenBy(c => c.Period, StringComparer.Ordinal)
            .ToList();
        var thresholds = softThresholdsPercent is null ? null : BudgetText.FormatThresholds(softThresholdsPercent);
        var action = actionAtLimit is { } a ? BudgetText.Of(a) : null;
        try
        {
            // Each statement is an atomic upsert (INSERT … ON CONFLICT DO UPDATE, the same SQL on SQLite and PostgreSQL),
            // all in one transaction: concurrent PUTs never fail on the unique index (the read-then-insert race of issue
            // 20, item 6) and the stored caps are those of one PUT, the last to commit. A deadlock or lock timeout that
            // remains after the retries is answered as a conflict (409), never as a server error.
            await WriteConflicts.RetryAsync(() => UpsertAsync(tenantId, rows, thresholds, action, userRequestsPerMinute, ct));
        }
        catch (Exception ex) when (WriteConflicts.IsConflict(ex))
        {
            throw new GatewayException(new GatewayError(GatewayErrorCodes.Conflict,
                "Another change to these caps was being saved at the same time. Nothing was changed by this one: read the caps again and retry.", 409));
        }

        settings.Invalidate(tenantId);
        return await GetAsync(tenantId, ct);
    }

    private async Task UpsertAsync(Guid tenantId, List<(string Scope, string Key, string Period, long LimitMicros)> caps, string? thresholds,
        string? action, UserRateChange? userRate, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(tenantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        foreach (var c in caps)
        {
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO budgets (id, tenant_id, scope, "key", period, limit_micros, created_utc, updated_utc)
                VALUES ({Guid.CreateVersion7()}, {tenantId}, {c.Scope}, {c.Key}, {c.Period}, {c.LimitMicros}, {now}, {now})
                ON CONFLICT (tenant_id, scope, "key", period) DO UPDATE SET limit_micros = excluded.limit_micros, updated_utc = excluded.updated_utc
                """, ct);
        }

        if (thresholds is not null || action is not null)
        {
            // A value not given keeps what is stored (or the default for a first row).
            var defaults = BudgetText.FormatThresholds(options.CurrentValue.DefaultSoftThresholdsPercent);
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO budget_settings (tenant_id, soft_thresholds_percent, action_at_limit, updated_utc)
                VALUES ({tenantId}, {thresholds ?? defaults}, {action ?? BudgetText.Of(BudgetAction.Block)}, {now})
                ON CONFLICT (tenant_id) DO UPDATE SET
                  soft_thresholds_percent = COALESCE({thresholds}, budget_settings.soft_thresholds_percent),
                  action_at_limit = COALESCE({action}, budget_settings.action_at_limit),
                  updated_utc = excluded.updated_utc
                """, ct);
        }

        if (userRate is not null)
        {
            // Its own statement: null is a value to store here (back to the platform's default), not "keep", so the
            // COALESCE of the statement above cannot carry it.
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO budget_settings (tenant_id, soft_thresholds_percent, action_at_limit, user_requests_per_minute, updated_utc)
                VALUES ({tenantId}, {BudgetText.FormatThresholds(options.CurrentValue.DefaultSoftThresholdsPercent)}, {BudgetText.Of(BudgetAction.Block)},
                  {userRate.RequestsPerMinute}, {now})
                ON CONFLICT (tenant_id) DO UPDATE SET
                  user_requests_per_minute = excluded.user_requests_per_minute,
                  updated_utc = excluded.updated_utc
                """, ct);
        }

        await tx.CommitAsync(ct);
    }

    public async Task<bool> RemoveAsync(Guid tenantId, BudgetScope scope, string? key, BudgetPeriod period, CancellationToken ct)
    {
        var s = BudgetText.Of(scope);
        var k = scope == BudgetScope.Tenant ? "" : key?.Trim() ?? "";
        var p = BudgetText.Of(period);
        await using var db = dbFactory.ForTenant(tenantId);
        var ids = await db.Budgets.Where(b => b.TenantId == tenantId && b.Scope == s && b.Key == k && b.Period == p)
            .Select(b => b.Id).ToListAsync(ct);
        // The rows this statement deleted, not the ones read above: of two removals at once only one deleted anything.
        var removed = await db.Budgets.Where(b => ids.Contains(b.Id)).ExecuteDeleteAsync(ct);
        settings.Invalidate(tenantId);
        ledger.Forget(ids);
        return removed > 0;
    }

    public async Task<IReadOnlyList<(DateTime CrossedUtc, BudgetThresholdCrossed Crossing)>> RecentThresholdsAsync(Guid tenantId, int count,
        CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var rows = await db.AuditLog.AsNoTracking().Where(a => a.TenantId == tenantId && a.Action == ThresholdAudit.Action)
            .OrderByDescending(a => a.Id).Take(count).Select(a => new { a.CreatedUtc, a.MetadataJson }).ToListAsync(ct);
        return rows.Select(r => (Utc: DateTime.SpecifyKind(r.CreatedUtc, DateTimeKind.Utc),
                Audit: r.MetadataJson is null ? null : System.Text.Json.JsonSerializer.Deserialize<ThresholdAudit>(r.MetadataJson)))
            .Where(r => r.Audit is not null)
            .Select(r => (r.Utc, new BudgetThresholdCrossed(tenantId, BudgetText.ParseScope(r.Audit!.Scope), r.Audit.Key,
                BudgetText.ParsePeriod(r.Audit.Period), r.Audit.ThresholdPercent, r.Audit.LimitMicros, r.Audit.SpentMicros, r.Audit.PeriodStartUtc)))
            .ToList();
    }

    private static void Validate(IReadOnlyList<BudgetCapInput> caps, IReadOnlyList<int>? thresholds, UserRateChange? userRate)
    {
        if (userRate?.RequestsPerMinute is < UserRateChange.Min or > UserRateChange.Max)
        {
            throw Invalid($"userRequestsPerMinute must be from {UserRateChange.Min} to {UserRateChange.Max}, or null for the platform's default.",
                "userRequestsPerMinute");
        }

        for (var i = 0; i < caps.Count; i++)
        {
            var c = caps[i];
            if (c.LimitMicros <= 0)
            {
                throw Invalid($"caps[{i}].limitMicros must be positive.", $"caps[{i}].limitMicros");
            }

            if (c.Scope != BudgetScope.Tenant && string.IsNullOrWhiteSpace(c.Key))
            {
                throw Invalid($"caps[{i}].key is required for the {BudgetText.Of(c.Scope)} scope.", $"caps[{i}].key");
            }

            if (c.Key is { Length: > 128 })
            {
                throw Invalid($"caps[{i}].key is longer than 128 characters.", $"caps[{i}].key");
            }
        }

        if (thresholds is not null && thresholds.Any(t => t is < 1 or > 100))
        {
            throw Invalid("softThresholdsPercent values must be between 1 and 100.", "softThresholdsPercent");
        }
    }

    private static GatewayException Invalid(string message, string param)
        => new(new GatewayError(GatewayErrorCodes.InvalidRequest, message, 400, Param: param));
}
