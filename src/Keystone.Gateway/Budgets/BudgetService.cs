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

        var statuses = caps.Select(c =>
        {
            var period = BudgetText.ParsePeriod(c.Period);
            var start = period == BudgetPeriod.Day ? dayStart : monthStart;
            var counter = counters.FirstOrDefault(x => x.BudgetId == c.Id && x.PeriodStartUtc == start);
            return new BudgetCapStatus(BudgetText.ParseScope(c.Scope), c.Key.Length == 0 ? null : c.Key, period, c.LimitMicros,
                counter?.SpentMicros ?? 0, counter?.ReservedMicros ?? 0, start, BudgetText.PeriodEnd(period, start));
        }).OrderBy(c => c.Scope).ThenBy(c => c.Key).ThenBy(c => c.Period).ToList();

        return new TenantBudget(statuses,
            s is null ? options.CurrentValue.DefaultSoftThresholdsPercent : BudgetText.ParseThresholds(s.SoftThresholdsPercent),
            s is null ? BudgetAction.Block : BudgetText.ParseAction(s.ActionAtLimit));
    }

    public async Task<TenantBudget> SetAsync(Guid tenantId, IReadOnlyList<BudgetCapInput> caps, IReadOnlyList<int>? softThresholdsPercent,
        BudgetAction? actionAtLimit, CancellationToken ct)
    {
        Validate(caps, softThresholdsPercent);
        var now = clock.GetUtcNow().UtcDateTime;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            var existing = await db.Budgets.Where(b => b.TenantId == tenantId).ToListAsync(ct);
            foreach (var cap in caps)
            {
                var scope = BudgetText.Of(cap.Scope);
                var key = cap.Scope == BudgetScope.Tenant ? "" : cap.Key!.Trim();
                var period = BudgetText.Of(cap.Period);
                var row = existing.FirstOrDefault(b => b.Scope == scope && b.Key == key && b.Period == period);
                if (row is null)
                {
                    db.Budgets.Add(new Budget
                    {
                        Id = Guid.CreateVersion7(), TenantId = tenantId, Scope = scope, Key = key, Period = period,
                        LimitMicros = cap.LimitMicros, CreatedUtc = now, UpdatedUtc = now,
                    });
                }
                else
                {
                    row.LimitMicros = cap.LimitMicros;
                    row.UpdatedUtc = now;
                }
            }

            if (softThresholdsPercent is not null || actionAtLimit is not null)
            {
                var s = await db.BudgetSettings.FirstOrDefaultAsync(x => x.TenantId == tenantId, ct);
                if (s is null)
                {
                    s = new BudgetSettings { TenantId = tenantId, SoftThresholdsPercent = BudgetText.FormatThresholds(options.CurrentValue.DefaultSoftThresholdsPercent) };
                    db.BudgetSettings.Add(s);
                }

                if (softThresholdsPercent is not null)
                {
                    s.SoftThresholdsPercent = BudgetText.FormatThresholds(softThresholdsPercent);
                }

                if (actionAtLimit is { } a)
                {
                    s.ActionAtLimit = BudgetText.Of(a);
                }

                s.UpdatedUtc = now;
            }

            await db.SaveChangesAsync(ct);
        }

        settings.Invalidate(tenantId);
        return await GetAsync(tenantId, ct);
    }

    public async Task RemoveAsync(Guid tenantId, BudgetScope scope, string? key, BudgetPeriod period, CancellationToken ct)
    {
        var s = BudgetText.Of(scope);
        var k = scope == BudgetScope.Tenant ? "" : key?.Trim() ?? "";
        var p = BudgetText.Of(period);
        await using var db = dbFactory.ForTenant(tenantId);
        var ids = await db.Budgets.Where(b => b.TenantId == tenantId && b.Scope == s && b.Key == k && b.Period == p)
            .Select(b => b.Id).ToListAsync(ct);
        await db.Budgets.Where(b => ids.Contains(b.Id)).ExecuteDeleteAsync(ct);
        settings.Invalidate(tenantId);
        ledger.Forget(ids);
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

    private static void Validate(IReadOnlyList<BudgetCapInput> caps, IReadOnlyList<int>? thresholds)
    {
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
