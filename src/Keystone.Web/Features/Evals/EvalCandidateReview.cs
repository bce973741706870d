using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Gateway;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// The review queue of sampled production calls and the per-feature sampling rates. Prompt editors (platform staff) work
/// on every tenant's queue (or the tenant they switched into); a tenant admin on their own tenant's only, read through a
/// tenant-scoped context (row-level security on PostgreSQL). An admin API key sets its own tenant's rates. A candidate is
/// accepted or discarded once: the status changes from pending in one conditional update, in the same transaction as the
/// example's insert, so of two reviewers clicking at once one wins and the other is told. Every change is audited.
/// </summary>
internal sealed class EvalCandidateReview(KeystoneDbFactory dbFactory, TenantContext tenant, AuditLog audit, TimeProvider clock)
{
    /// <summary>Most candidates one page of the queue shows.</summary>
    public const int PageSize = 50;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private bool IsEditor => Policies.RolesFor[Policies.PromptEditor].Any(tenant.User.IsInRole);

    private bool IsApiKey => tenant.User.FindFirstValue(KeystoneClaims.ApiKeyId) is not null;

    /// <summary>True when the user may review candidates and set rates (prompt editors, platform admins, tenant admins).</summary>
    public bool CanReview => IsEditor || Policies.RolesFor[Policies.TenantAdmin].Any(tenant.User.IsInRole);

    /// <summary>The tenant the user works in: null for platform staff on all tenants.</summary>
    public Guid? ScopeTenantId => IsEditor ? tenant.TenantId : tenant.TenantId ?? Guid.Empty;

    private KeystoneDbContext Db() => ScopeTenantId is { } t ? dbFactory.ForTenant(t) : dbFactory.ForSystem();

    /// <summary>Pending candidates in scope, oldest first, and how many are pending in all.</summary>
    public async Task<(IReadOnlyList<EvalCandidateRow> Rows, int Pending)> PendingAsync(string? feature, CancellationToken ct)
    {
        Demand();
        await using var db = Db();
        var pending = db.EvalCandidates.AsNoTracking().Where(c => c.Status == EvalCandidateStatus.Pending);
        var count = await pending.CountAsync(ct);
        var rows = await pending.Where(c => feature == null || c.Feature == feature).OrderBy(c => c.CreatedUtc).ThenBy(c => c.Id).Take(PageSize).ToListAsync(ct);
        var names = await TenantNamesAsync(db, ct);
        return (rows.Select(c => ToRow(c, names)).ToList(), count);
    }

    /// <summary>How many candidates wait in scope (the page's live count).</summary>
    public async Task<int> PendingCountAsync(CancellationToken ct)
    {
        Demand();
        await using var db = Db();
        return await db.EvalCandidates.AsNoTracking().CountAsync(c => c.Status == EvalCandidateStatus.Pending, ct);
    }

    /// <summary>
    /// The sets a candidate may go into: those of its tenant (its data stays its tenant's), prompt and feature sets. The
    /// candidate is read again in the caller's scope, so a row naming another tenant lists none of that tenant's sets
    /// (not found), as <see cref="AcceptAsync"/> refuses it.
    /// </summary>
    public async Task<IReadOnlyList<EvalSetRow>> TargetSetsAsync(EvalCandidateRow candidate, EvalSetStore sets, CancellationToken ct)
    {
        Demand();
        var stored = await FindAsync(candidate.Id, ct);
        return (await sets.ListSetsAsync(null, ct)).Where(s => s.TenantId == stored.TenantId).ToList();
    }

    /// <summary>
    /// Accepts the candidate into a set of its tenant (by default that tenant's set of its feature, created when missing)
    /// as a new example: the recorded conversation (and a managed prompt's variables when the set is that prompt's), the
    /// expected answer (default: the recorded one) and the scorers. Throws <see cref="EvalException"/>: not found, invalid
    /// example, or conflict when someone reviewed it first (nothing is written then).
    /// </summary>
    public async Task<Guid> AcceptAsync(Guid candidateId, EvalCandidateAccept accept, CancellationToken ct)
    {
        Demand();
        // The candidate is read in the caller's scope (a tenant admin's own tenant, RLS on PostgreSQL), and a chosen set
        // must be that candidate's tenant's: neither a crafted candidate id nor a crafted set id reaches another tenant's
        // data or a global set.
        var candidate = await FindAsync(candidateId, ct);
        EvalSet set;
        await using (var db = dbFactory.ForSystem())
        {
            if (accept.SetId is { } setId)
            {
                set = await db.EvalSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == setId, ct) is { } found && found.TenantId == candidate.TenantId
                    ? found
                    : throw new EvalException(EvalException.NotFound, "There is no such eval set of this call's tenant (a candidate stays in its tenant's sets).");
            }
            else
            {
                var id = await EvalSetStore.EnsureSetAsync(dbFactory, EvalSet.FeatureSetName(candidate.Feature), candidate.TenantId, clock, null, ct);
                set = await db.EvalSets.AsNoTracking().SingleAsync(s => s.Id == id, ct);
            }
        }

        var recorded = JsonSerializer.Deserialize<EvalInputJson>(candidate.InputJson, Json);
        var variables = set.PromptName is not null && set.PromptName == candidate.PromptName ? recorded?.Variables : null;
        var input = new EvalExampleInput(variables, recorded?.Messages, string.IsNullOrWhiteSpace(accept.Expected) ? candidate.Answer : accept.Expected,
            accept.Expectations is { Count: > 0 } x ? x : null, accept.Notes);
        if ((EvalExampleValidation.Validate(input) ?? EvalSetStore.FitsSet(set.Name, input)) is { } invalid)
        {
            throw new EvalException(EvalException.Invalid, invalid);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var example = EvalSetStore.NewExample(set, input, tenant.UserId ?? "unknown", now);
        example.SourceCallId = candidate.CallId;
        example.PromptVersionId = set.PromptName == candidate.PromptName ? candidate.PromptVersionId : null;
        bool claimed;
        await using (var db = Db())
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            claimed = await ClaimAsync(db, candidateId, EvalCandidateStatus.Accepted, set.Id, example.Id, now, ct);
            if (claimed)
            {
                db.EvalExamples.Add(example);
                await db.SaveChangesAsync(ct);
                await tx.CommitAsync(ct);
            }
        }

        if (!claimed)
        {
            // The transaction is rolled back (nothing was written) before the winner's verdict is read.
            throw await AlreadyReviewedAsync(candidateId, ct);
        }

        await audit.WriteAsync("eval_candidate.accept", $"eval_candidate:{candidateId}", candidate.TenantId,
            new { call = candidate.CallId, evalSet = set.Name, setId = set.Id, example = example.Id }, ct);
        return example.Id;
    }

    /// <summary>Discards the candidate; throws a conflict when someone reviewed it first.</summary>
    public async Task DiscardAsync(Guid candidateId, CancellationToken ct)
    {
        Demand();
        var candidate = await FindAsync(candidateId, ct);
        bool claimed;
        await using (var db = Db())
        {
            claimed = await ClaimAsync(db, candidateId, EvalCandidateStatus.Discarded, null, null, clock.GetUtcNow().UtcDateTime, ct);
        }

        if (!claimed)
        {
            throw await AlreadyReviewedAsync(candidateId, ct);
        }

        await audit.WriteAsync("eval_candidate.discard", $"eval_candidate:{candidateId}", candidate.TenantId, new { call = candidate.CallId }, ct);
    }

    private async Task<bool> ClaimAsync(KeystoneDbContext db, Guid id, EvalCandidateStatus to, Guid? setId, Guid? exampleId, DateTime now, CancellationToken ct)
    {
        var userId = Clip(tenant.UserId ?? "unknown", 64);
        var name = tenant.User.FindFirstValue(ClaimTypes.Email) ?? tenant.User.Identity?.Name;
        name = name is null ? null : Clip(name, 256);
        // The one write that decides: of two reviewers, the second finds the row no longer pending.
        return await db.EvalCandidates.Where(c => c.Id == id && c.Status == EvalCandidateStatus.Pending)
            .ExecuteUpdateAsync(s => s
                .SetProperty(c => c.Status, to)
                .SetProperty(c => c.ReviewedByUserId, userId)
                .SetProperty(c => c.ReviewedByName, name)
                .SetProperty(c => c.ReviewedUtc, now)
                .SetProperty(c => c.AcceptedSetId, setId)
                .SetProperty(c => c.AcceptedExampleId, exampleId), ct) == 1;
    }

    private async Task<EvalException> AlreadyReviewedAsync(Guid id, CancellationToken ct)
    {
        await using var db = Db();
        var row = await db.EvalCandidates.AsNoTracking().Where(c => c.Id == id).Select(c => new { c.Status, c.ReviewedByName, c.ReviewedUtc }).SingleOrDefaultAsync(ct);
        var who = row?.ReviewedByName ?? "someone else";
        var what = row?.Status == EvalCandidateStatus.Discarded ? "discarded" : "accepted";
        return new EvalException(EvalException.Conflict, $"This candidate was already {what} by {who}; nothing was changed.");
    }

    private async Task<EvalCandidate> FindAsync(Guid id, CancellationToken ct)
    {
        await using var db = Db();
        return await db.EvalCandidates.AsNoTracking().SingleOrDefaultAsync(c => c.Id == id, ct)
            ?? throw new EvalException(EvalException.NotFound, "There is no such candidate in your queue.");
    }

    /// <summary>The sampling rates of a tenant (null: every tenant in scope), by feature.</summary>
    public async Task<IReadOnlyList<EvalSamplingRateRow>> RatesAsync(Guid? tenantId, CancellationToken ct)
    {
        DemandFor(tenantId);
        await using var db = tenantId is { } t ? dbFactory.ForTenant(t) : Db();
        var rows = await db.EvalSamplingRates.AsNoTracking().OrderBy(r => r.TenantId).ThenBy(r => r.Feature).ToListAsync(ct);
        return rows.Select(r => new EvalSamplingRateRow(r.TenantId, r.Feature, r.RatePpm / 10_000.0, r.UpdatedByUserId, r.UpdatedUtc)).ToList();
    }

    /// <summary>
    /// Sets a tenant's sampling rate for a feature, in percent (0-100, up to four decimals; 0 stops sampling it), and audits
    /// the change with the rate before. Throws <see cref="EvalException"/> (invalid) for a bad label or rate.
    /// </summary>
    public async Task<EvalSamplingRateRow> SetRateAsync(Guid tenantId, string feature, double percent, CancellationToken ct)
    {
        DemandFor(tenantId);
        var label = (feature ?? "").Trim();
        if (!FeatureLabel.IsValid(label))
        {
            throw new EvalException(EvalException.Invalid, $"A feature label is {FeatureLabel.Rule}.");
        }

        if (EvalSamplerJob.ExcludedFeatures.Contains(label))
        {
            throw new EvalException(EvalException.Invalid, $"\"{label}\" is the platform's own calls, never sampled: choose a product feature.");
        }

        if (double.IsNaN(percent) || percent < 0 || percent > 100)
        {
            throw new EvalException(EvalException.Invalid, "The sampling rate is a percentage from 0 to 100.");
        }

        var ppm = (int)Math.Round(percent * 10_000, MidpointRounding.AwayFromZero);
        var now = clock.GetUtcNow().UtcDateTime;
        int? before;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            if (!await db.Tenants.AnyAsync(t => t.Id == tenantId, ct))
            {
                throw new EvalException(EvalException.NotFound, "There is no such tenant.");
            }

            var row = await db.EvalSamplingRates.SingleOrDefaultAsync(r => r.TenantId == tenantId && r.Feature == label, ct);
            before = row?.RatePpm;
            if (row is null)
            {
                row = new EvalSamplingRate { TenantId = tenantId, Feature = label };
                db.EvalSamplingRates.Add(row);
            }

            row.RatePpm = ppm;
            row.UpdatedByUserId = Clip(tenant.UserId ?? tenant.User.FindFirstValue(KeystoneClaims.ApiKeyId) ?? "unknown", 64);
            row.UpdatedUtc = now;
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
            {
                throw new EvalException(EvalException.Conflict, "Someone else set this feature's rate at the same moment; reload and set it again.");
            }
        }

        await audit.WriteAsync("eval_sampling.set", $"eval_sampling:{label}", tenantId,
            new { feature = label, ratePercent = ppm / 10_000.0, beforePercent = before is { } b ? b / 10_000.0 : (double?)null }, ct);
        return new EvalSamplingRateRow(tenantId, label, ppm / 10_000.0, tenant.UserId ?? "api", now);
    }

    /// <summary>Tenants in scope by name (the rate form's choices).</summary>
    public async Task<IReadOnlyList<(Guid Id, string Name)>> TenantsAsync(CancellationToken ct)
    {
        Demand();
        await using var db = dbFactory.ForSystem();
        var scope = ScopeTenantId;
        var rows = await db.Tenants.AsNoTracking().Where(t => scope == null || t.Id == scope).OrderBy(t => t.Name).Select(t => new { t.Id, t.Name }).ToListAsync(ct);
        return rows.Select(t => (t.Id, t.Name)).ToList();
    }

    private void Demand()
    {
        if (!CanReview)
        {
            throw new EvalException(EvalException.Forbidden, "Reviewing eval candidates needs the prompt editor or tenant admin role.");
        }
    }

    /// <summary>Prompt editors act for any tenant; a tenant admin or an API key only for its own.</summary>
    private void DemandFor(Guid? tenantId)
    {
        if (IsApiKey && tenantId is { } k && tenant.TenantId == k)
        {
            return;
        }

        Demand();
        if (!IsEditor && tenantId != tenant.TenantId)
        {
            throw new EvalException(EvalException.NotFound, "There is no such tenant.");
        }
    }

    private static async Task<Dictionary<Guid, string>> TenantNamesAsync(KeystoneDbContext db, CancellationToken ct) =>
        await db.Tenants.AsNoTracking().Select(t => new { t.Id, t.Name }).ToDictionaryAsync(t => t.Id, t => t.Name, ct);

    private static EvalCandidateRow ToRow(EvalCandidate c, Dictionary<Guid, string> names)
    {
        EvalInputJson? input = null;
        try
        {
            input = JsonSerializer.Deserialize<EvalInputJson>(c.InputJson, Json);
        }
        catch (JsonException)
        {
            // Shown without input; accepting it is refused by validation.
        }

        return new EvalCandidateRow(c.Id, c.TenantId, names.GetValueOrDefault(c.TenantId, c.TenantId.ToString("D", CultureInfo.InvariantCulture)), c.CallId, c.TraceId,
            c.Feature, c.PromptName, c.Alias, new EvalExampleInput(input?.Variables, input?.Messages, null, null, null), c.Answer, c.Status, c.CallCreatedUtc, c.CreatedUtc);
    }

    private static string Clip(string text, int max) => text.Length > max ? text[..max] : text;
}
