using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway;
using Keystone.Web.Features.Margin;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Features.Usage;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Home;

/// <summary>
/// The numbers of each role's home (issue 21: "Home shows each role its own numbers and next actions"), read from the
/// services the role's own pages use (margin, usage, budgets) or, where no service answers the question, straight
/// from the tables in the caller's tenant scope. Each method answers one role; the page calls only its viewer's.
/// </summary>
internal sealed class HomeQueries(
    IDbContextFactory<KeystoneDbContext> dbFactory,
    TenantContext tenant,
    MarginQueries margin,
    UsageQueries usage,
    IBudgetService budgets,
    PromptCatalog prompts,
    TimeProvider clock)
{
    /// <summary>How many failures, drafts, activations and keys a home lists.</summary>
    public const int ListLength = 5;

    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>The founder's month to date, across every tenant (the margin page's own numbers).</summary>
    public async Task<FounderHome> FounderAsync(CancellationToken ct)
    {
        var range = ReportRange.MonthToDate(Now);
        var rows = await margin.TenantsAsync(range, ct);
        return new FounderHome(range.FromUtc, rows.Sum(r => r.RevenueMicros), rows.Sum(r => r.CostMicros),
            rows.Count(r => r.RevenueMicros > 0), MarginRow.Thinnest(rows));
    }

    /// <summary>Failed calls since midnight UTC and the newest failed calls, in the caller's scope.</summary>
    public async Task<SupportHome> SupportAsync(CancellationToken ct)
    {
        var today = Now.Date;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var failed = db.Calls.AsNoTracking().Where(c => c.Status == CallStatus.Error);
        var count = await failed.CountAsync(c => c.CreatedUtc >= today, ct);
        var newest = await failed.OrderByDescending(c => c.CreatedUtc).Take(ListLength)
            .Select(c => new FailedCall(c.Id, c.CreatedUtc, db.Tenants.Where(t => t.Id == c.TenantId).Select(t => t.Name).FirstOrDefault(),
                c.Feature, c.Alias, c.ErrorCode))
            .ToListAsync(ct);
        return new SupportHome(today, count, newest);
    }

    /// <summary>The tenant in scope: spend this month, caps, refusals since midnight UTC and the live keys; null without a tenant.</summary>
    public async Task<AdminHome?> AdminAsync(CancellationToken ct)
    {
        if (tenant.TenantId is not { } tenantId)
        {
            return null;
        }

        var now = Now;
        var month = await usage.UsageAsync(ReportRange.MonthToDate(now), ct);
        var budget = await budgets.GetAsync(tenantId, ct);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var refused = await db.Calls.AsNoTracking()
            .CountAsync(c => c.TenantId == tenantId && c.Status == CallStatus.Rejected && c.ErrorCode == "budget_exceeded" && c.CreatedUtc >= now.Date, ct);
        var keys = await db.ApiKeys.AsNoTracking()
            .Where(k => k.TenantId == tenantId && k.RevokedUtc == null && (k.ExpiresUtc == null || k.ExpiresUtc > now))
            .OrderByDescending(k => k.LastUsedUtc).ThenBy(k => k.Name)
            .Select(k => new HomeKey(k.Name, k.Prefix, k.LastUsedUtc, k.ExpiresUtc))
            .ToListAsync(ct);
        // A per-user cap is keyed by the console user id: the admin reads the member's name.
        var userIds = budget.Caps.Where(c => c.Scope == BudgetScope.User && c.Key is not null).Select(c => c.Key!).Distinct().ToList();
        var names = await db.Users.AsNoTracking().Where(u => userIds.Contains(u.Id))
            .ToDictionaryAsync(u => u.Id, u => u.DisplayName != "" ? u.DisplayName : u.Email ?? u.Id, ct);
        // A key's cap is keyed by the key id: named by the key's name.
        var keyIds = budget.Caps.Where(c => c.Scope == BudgetScope.ApiKey && Guid.TryParse(c.Key, out _)).Select(c => Guid.Parse(c.Key!)).ToList();
        foreach (var key in await db.ApiKeys.AsNoTracking().Where(k => keyIds.Contains(k.Id)).Select(k => new { k.Id, k.Name }).ToListAsync(ct))
        {
            names[key.Id.ToString()] = $"API key “{key.Name}”";
        }

        return new AdminHome(month?.Days.Sum(d => d.CostMicros) ?? 0,
            budget.Caps.OrderByDescending(c => c.LimitMicros == 0 ? 0 : (double)c.SpentMicros / c.LimitMicros).ToList(), refused, keys, names);
    }

    /// <summary>The signed-in member's own calls this month; null without a tenant.</summary>
    public async Task<MemberHome?> MemberAsync(CancellationToken ct)
    {
        var month = await usage.UsageAsync(ReportRange.MonthToDate(Now), ct);
        return month is null ? null : new MemberHome(month.Days.Sum(d => d.Calls), month.Days.Sum(d => d.CostMicros),
            month.ByFeature.Take(ListLength).Select(f => (f.Label, f.Calls, f.CostMicros)).ToList());
    }

    /// <summary>Prompts whose newest version is not the one active for everyone, and the latest activations.</summary>
    public async Task<EditorHome> EditorAsync(CancellationToken ct)
    {
        // The prompts page's own list: versions are numbered 1..n, so a count above the active number is a draft.
        var drafts = (await prompts.ListAsync(ct))
            .Where(p => p.VersionCount > (p.ActiveGlobalVersion ?? 0))
            .Select(p => new PromptDraft(p.Name, p.VersionCount, p.ActiveGlobalVersion))
            .Take(ListLength).ToList();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var activations = await db.PromptActivations.AsNoTracking().OrderByDescending(a => a.ActivatedUtc).ThenByDescending(a => a.Id).Take(ListLength)
            .Select(a => new RecentActivation(
                db.Prompts.Where(p => p.Id == a.PromptId).Select(p => p.Name).First(),
                db.PromptVersions.Where(v => v.Id == a.VersionId).Select(v => (int?)v.Number).FirstOrDefault(),
                a.TenantId == null ? null : db.Tenants.Where(t => t.Id == a.TenantId).Select(t => t.Name).FirstOrDefault(),
                a.ActivatedByName, a.IsRollback, a.ActivatedUtc))
            .ToListAsync(ct);
        return new EditorHome(drafts, activations);
    }
}
