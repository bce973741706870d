using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// Drift alerts for the console: listed for the people who own the prompt (prompt editors and platform admins see every
/// alert; a tenant admin sees the alerts of their tenant's override), acknowledged by any of them, rolled back in one
/// click by a prompt editor through the prompts' own rollback (audited there as <c>prompt.rollback</c> and here as
/// <c>eval.drift.rollback</c>). Each change is one conditional update, so two people acting at once get one outcome.
/// </summary>
internal sealed class EvalDriftAlerts(KeystoneDbFactory dbFactory, TenantContext tenant, PromptCatalog catalog, AuditLog audit, ConsoleNotificationSignal signal, TimeProvider clock)
    : IConsoleNotificationSource
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private bool SeesAll => tenant.User.IsInRole(Roles.PlatformAdmin) || tenant.User.IsInRole(Roles.PromptEditor);

    private Guid? OwnTenant => tenant.User.IsInRole(Roles.TenantAdmin) ? tenant.TenantId : null;

    /// <summary>True when the signed-in user sees drift alerts at all.</summary>
    public bool CanRead => SeesAll || OwnTenant is not null;

    bool IConsoleNotificationSource.Applies => CanRead;

    /// <summary>True when the signed-in user may roll a drifted version back (a prompt editor).</summary>
    public bool CanRollback => catalog.CanEdit;

    /// <summary>Alerts the user may see, newest first: open ones only, or all; of one prompt or every prompt.</summary>
    public async Task<IReadOnlyList<EvalDriftAlertView>> ListAsync(string? promptName, bool openOnly, int take, CancellationToken ct)
    {
        if (!CanRead)
        {
            return [];
        }

        var all = SeesAll;
        var own = OwnTenant;
        var slug = promptName is null ? null : PromptCatalog.Slug(promptName);
        await using var db = dbFactory.ForSystem();
        var rows = await db.EvalDriftAlerts.AsNoTracking()
            .Where(a => (all || a.TenantId == own) && (slug == null || a.PromptName == slug) && (!openOnly || a.Status == EvalDriftStatus.Open))
            .OrderByDescending(a => a.CreatedUtc).ThenBy(a => a.Id).Take(Math.Clamp(take, 1, 500)).ToListAsync(ct);
        return await ViewsAsync(db, rows, ct);
    }

    /// <summary>One alert, or null when there is none the user may see.</summary>
    public async Task<EvalDriftAlertView?> GetAsync(Guid id, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var row = await db.EvalDriftAlerts.AsNoTracking().SingleOrDefaultAsync(a => a.Id == id, ct);
        return row is null || !Visible(row) ? null : (await ViewsAsync(db, [row], ct))[0];
    }

    /// <summary>Marks an open alert as seen and kept; false when it was handled already.</summary>
    public async Task<bool> AcknowledgeAsync(Guid id, CancellationToken ct)
    {
        var alert = await GetAsync(id, ct) ?? throw new EvalException(EvalException.NotFound, "There is no such drift alert.");
        var now = clock.GetUtcNow().UtcDateTime;
        var (userId, name) = Actor();
        await using var db = dbFactory.ForSystem();
        var changed = await db.EvalDriftAlerts.Where(a => a.Id == id && a.Status == EvalDriftStatus.Open)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, EvalDriftStatus.Acknowledged).SetProperty(a => a.OpenKey, (string?)null)
                .SetProperty(a => a.HandledByUserId, userId).SetProperty(a => a.HandledByName, name).SetProperty(a => a.HandledUtc, now), ct);
        if (changed == 0)
        {
            return false;
        }

        await audit.WriteAsync("eval.drift.acknowledge", alert.Feature is null ? $"prompt:{alert.PromptName}" : $"eval_set:{alert.SetId}", alert.TenantId,
            new { alert = id, version = alert.VersionNumber, score = alert.ScorePoints, baseline = alert.BaselineScorePoints }, ct);
        signal.Raise();
        return true;
    }

    /// <summary>
    /// Rolls the drifted scope back to its previous version (the prompts' rollback) and closes the alert. Refused when the
    /// drifted version is no longer the one active there (someone activated another meanwhile), when the scope is a tenant
    /// that follows the global version (the rollback would change every tenant: do that on the prompt page), or when the
    /// alert was rolled back already. Returns the version now active (null: the tenant follows the global version).
    /// </summary>
    public async Task<int?> RollbackAsync(Guid id, CancellationToken ct)
    {
        if (!CanRollback)
        {
            throw new EvalException(EvalException.Forbidden, "Only prompt editors may roll a prompt back.");
        }

        var alert = await GetAsync(id, ct) ?? throw new EvalException(EvalException.NotFound, "There is no such drift alert.");
        if (alert.Feature is not null)
        {
            throw new EvalException(EvalException.Invalid,
                "A feature's set has no prompt version to roll back: route the feature to another model, or choose another nightly alias on the set's page.");
        }

        EvalDriftStatus before;
        string? openKey;
        await using (var db = dbFactory.ForSystem())
        {
            var row = await db.EvalDriftAlerts.AsNoTracking().SingleAsync(a => a.Id == id, ct);
            var promptId = await db.Prompts.Where(p => p.Name == row.PromptName).Select(p => (Guid?)p.Id).SingleOrDefaultAsync(ct)
                ?? throw new EvalException(EvalException.NotFound, $"The prompt \"{row.PromptName}\" no longer exists.");
            var activation = await EvalDriftMonitor.ScopeActivationAsync(db, promptId, row.TenantId, ct);
            if (activation is null || activation.Id != row.ActivationId)
            {
                throw new EvalException(EvalException.Conflict,
                    $"Version {row.VersionNumber} is no longer the version activated when the drift was seen: someone changed the activation since. Nothing was rolled back.");
            }

            if (activation.TenantId != row.TenantId)
            {
                throw new EvalException(EvalException.Invalid,
                    "This tenant follows the global version, so rolling back would change it for every tenant: roll back globally on the prompt's page if that is meant.");
            }

            before = row.Status;
            openKey = row.OpenKey;
            // Claim the alert first: of two people clicking at once one rolls back, the other is told (never two steps back).
            var claimed = await db.EvalDriftAlerts.Where(a => a.Id == id && a.Status != EvalDriftStatus.RolledBack)
                .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, EvalDriftStatus.RolledBack).SetProperty(a => a.OpenKey, (string?)null), ct);
            if (claimed == 0)
            {
                throw new EvalException(EvalException.Conflict, "This alert was rolled back already.");
            }
        }

        int? now;
        try
        {
            now = await catalog.RollbackAsync(alert.PromptName, alert.TenantId, ct);
        }
        catch (Exception ex) when (ex is PromptException or UnauthorizedAccessException)
        {
            await using var db = dbFactory.ForSystem();
            await db.EvalDriftAlerts.Where(a => a.Id == id).ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, before)
                .SetProperty(a => a.OpenKey, openKey), CancellationToken.None);
            throw new EvalException(EvalException.Invalid, ex.Message);
        }

        var (userId, name) = Actor();
        var at = clock.GetUtcNow().UtcDateTime;
        await using (var db = dbFactory.ForSystem())
        {
            await db.EvalDriftAlerts.Where(a => a.Id == id).ExecuteUpdateAsync(s => s.SetProperty(a => a.HandledByUserId, userId)
                .SetProperty(a => a.HandledByName, name).SetProperty(a => a.HandledUtc, at).SetProperty(a => a.RolledBackToVersion, now), ct);
        }

        await audit.WriteAsync("eval.drift.rollback", $"prompt:{alert.PromptName}", alert.TenantId,
            new { alert = id, from = alert.VersionNumber, to = now, score = alert.ScorePoints, baseline = alert.BaselineScorePoints }, ct);
        signal.Raise();
        return now;
    }

    /// <summary>The bell's entries: the open alerts this user may see.</summary>
    async Task<IReadOnlyList<ConsoleNotification>> IConsoleNotificationSource.ListAsync(CancellationToken ct)
    {
        var f = CultureInfo.InvariantCulture;
        return (await ListAsync(null, openOnly: true, 20, ct)).Select(a => new ConsoleNotification($"drift-{a.Id}",
            $"Drift: {a.Subject} ({a.Scope})",
            string.Create(f, $"Scored {a.ScorePoints:0.0} against its baseline {a.BaselineScorePoints:0.0} on {a.Alias}{(a.Model is { } m ? $" ({m})" : "")}; tolerance {a.TolerancePoints:0.#} points."),
            a.Href, a.CreatedUtc)).ToList();
    }

    private bool Visible(EvalDriftAlert row) => SeesAll || (OwnTenant is { } t && row.TenantId == t);

    private (string UserId, string? Name) Actor() =>
        (tenant.UserId ?? "unknown", tenant.User.FindFirstValue(ClaimTypes.Email) ?? tenant.User.Identity?.Name);

    internal static async Task<IReadOnlyList<EvalDriftAlertView>> ViewsAsync(KeystoneDbContext db, List<EvalDriftAlert> rows, CancellationToken ct)
    {
        if (rows.Count == 0)
        {
            return [];
        }

        var tenants = await db.Tenants.AsNoTracking().Select(t => new { t.Id, t.Name }).ToDictionaryAsync(t => t.Id, t => t.Name, ct);
        return rows.Select(a => new EvalDriftAlertView(a.Id, a.TenantId, a.TenantId is { } t ? tenants.GetValueOrDefault(t, t.ToString()) : "global",
            a.PromptName, a.VersionNumber, a.Alias, a.Model, a.SetId, a.SetName, a.BaselineRunId, a.RunId, a.BaselineScorePoints, a.ScorePoints,
            a.TolerancePoints, ExamplesOf(a.ChangedExamplesJson), a.Status, a.HandledByName ?? a.HandledByUserId, a.HandledUtc, a.RolledBackToVersion,
            a.CreatedUtc)).ToList();
    }

    private static List<EvalDriftExample> ExamplesOf(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<List<EvalDriftExample>>(json, Json) ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }
}
