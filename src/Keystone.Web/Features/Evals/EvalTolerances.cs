using System.Globalization;
using System.Security.Claims;
using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Evals;

/// <summary>Where a scope's tolerance comes from.</summary>
internal enum EvalToleranceSource
{
    /// <summary><c>Evals:GateTolerancePoints</c>: neither the scope nor the prompt has its own.</summary>
    Default,

    /// <summary>The prompt's global value (a tenant override without its own follows it).</summary>
    Prompt,

    /// <summary>The tenant override's own value.</summary>
    Tenant,
}

/// <summary>A scope's effective tolerance in points and where it comes from.</summary>
internal sealed record EvalToleranceValue(double Points, EvalToleranceSource Source);

/// <summary>
/// Per-prompt gate and drift tolerance (issue 23, item 1): the points a version may score below the active version (the
/// gate) or below its own baseline (drift) before it is blocked or raises an alert. A tenant override's own value, else
/// the prompt's global value, else <c>Evals:GateTolerancePoints</c>. Set by prompt editors (checked here too), 0-100,
/// audited with the value before and after.
/// </summary>
internal sealed class EvalTolerances(KeystoneDbFactory dbFactory, TenantContext tenant, AuditLog audit, IOptions<EvalsOptions> options, TimeProvider clock)
{
    /// <summary>True when the signed-in user may change tolerances.</summary>
    public bool CanEdit => Policies.RolesFor[Policies.PromptEditor].Any(tenant.User.IsInRole);

    /// <summary>The effective tolerance of a prompt in a scope (global when <paramref name="tenantId"/> is null).</summary>
    public async Task<EvalToleranceValue> GetAsync(string promptName, Guid? tenantId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        return await EffectiveAsync(db, PromptCatalog.Slug(promptName), tenantId, options.Value.GateTolerancePoints, ct);
    }

    /// <summary>The effective tolerance read inside an open context (the gate and the drift check).</summary>
    public static async Task<EvalToleranceValue> EffectiveAsync(KeystoneDbContext db, string promptName, Guid? tenantId, double fallback, CancellationToken ct)
    {
        var keys = new[] { EvalSet.OwnerKeyOf(tenantId), EvalSet.OwnerKeyOf(null) };
        var rows = await db.EvalTolerances.AsNoTracking().Where(t => t.PromptName == promptName && keys.Contains(t.OwnerKey))
            .Select(t => new { t.OwnerKey, t.TolerancePoints }).ToListAsync(ct);
        if (tenantId is not null && rows.FirstOrDefault(r => r.OwnerKey == keys[0]) is { } own)
        {
            return new EvalToleranceValue(own.TolerancePoints, EvalToleranceSource.Tenant);
        }

        return rows.FirstOrDefault(r => r.OwnerKey == keys[1]) is { } global
            ? new EvalToleranceValue(global.TolerancePoints, EvalToleranceSource.Prompt)
            : new EvalToleranceValue(fallback, EvalToleranceSource.Default);
    }

    /// <summary>The validation message for a tolerance, or null when it is valid (0 to 100 points).</summary>
    public static string? Validate(double? points) => points switch
    {
        null => null,
        { } p when double.IsNaN(p) || double.IsInfinity(p) || p < 0 || p > 100 => "The tolerance must be between 0 and 100 points.",
        _ => null,
    };

    /// <summary>
    /// Sets the prompt's tolerance for a scope; null removes the scope's own value (it follows the prompt's global one, or
    /// the default). Throws <see cref="EvalException"/> for a value outside 0-100, an unknown prompt or tenant, or a caller
    /// who is not a prompt editor.
    /// </summary>
    public async Task<EvalToleranceValue> SetAsync(string promptName, Guid? tenantId, double? points, CancellationToken ct)
    {
        if (!CanEdit)
        {
            throw new EvalException(EvalException.Forbidden, "Only prompt editors may change a prompt's tolerance.");
        }

        if (Validate(points) is { } problem)
        {
            throw new EvalException(EvalException.Invalid, problem);
        }

        var slug = PromptCatalog.Slug(promptName);
        var before = await GetAsync(slug, tenantId, ct);
        await using (var db = dbFactory.ForSystem())
        {
            if (!await db.Prompts.AnyAsync(p => p.Name == slug, ct))
            {
                throw new EvalException(EvalException.NotFound, $"There is no prompt named \"{promptName}\".");
            }

            if (tenantId is { } t && !await db.Tenants.AnyAsync(x => x.Id == t, ct))
            {
                throw new EvalException(EvalException.NotFound, "There is no such tenant.");
            }

            var owner = EvalSet.OwnerKeyOf(tenantId);
            var row = await db.EvalTolerances.SingleOrDefaultAsync(x => x.PromptName == slug && x.OwnerKey == owner, ct);
            if (points is null)
            {
                if (row is not null)
                {
                    db.EvalTolerances.Remove(row);
                }
            }
            else
            {
                if (row is null)
                {
                    row = new EvalTolerance { Id = Guid.NewGuid(), PromptName = slug, TenantId = tenantId, OwnerKey = owner };
                    db.EvalTolerances.Add(row);
                }

                row.TolerancePoints = Math.Round(points.Value, 1);
                row.UpdatedByUserId = tenant.UserId ?? "unknown";
                row.UpdatedByName = tenant.User.FindFirstValue(ClaimTypes.Email) ?? tenant.User.Identity?.Name;
                row.UpdatedUtc = clock.GetUtcNow().UtcDateTime;
            }

            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
            {
                // Two editors saved the first value of this scope at once: the other one's value stands; say so rather than claim ours.
                throw new EvalException(EvalException.Conflict, "Someone else changed this tolerance at the same moment: reload and try again.");
            }
            catch (DbUpdateConcurrencyException)
            {
                throw new EvalException(EvalException.Conflict, "Someone else changed this tolerance at the same moment: reload and try again.");
            }
        }

        var after = await GetAsync(slug, tenantId, ct);
        await audit.WriteAsync("prompt.eval_tolerance", $"prompt:{slug}", tenantId, new
        {
            scope = tenantId is null ? "global" : "tenant",
            before = before.Points,
            beforeSource = before.Source.ToString().ToLowerInvariant(),
            after = after.Points,
            afterSource = after.Source.ToString().ToLowerInvariant(),
        }, ct);
        return after;
    }

    /// <summary>A tolerance in words ("5 points (default)").</summary>
    public static string Describe(EvalToleranceValue value) => string.Create(CultureInfo.InvariantCulture, $"{value.Points:0.#} points") + value.Source switch
    {
        EvalToleranceSource.Default => " (default)",
        EvalToleranceSource.Prompt => " (the prompt's)",
        _ => " (this tenant's)",
    };
}
