using System.Security.Claims;
using Keystone.Data.Identity;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// The console's eval-set edits. Prompt readers (platform staff) read every set; a tenant admin reads their own tenant's
/// sets only (another tenant's, or a global one, reads as no set at all) and chooses their nightly alias, as their admin
/// API key may (<c>PUT /api/v1/evals/nightly</c>). Every other change needs the prompt editor role. Each rule is checked
/// here as well as on the page, so no other caller slips past it; every change is audited.
/// </summary>
internal sealed class EvalSetEditor(EvalSetStore store, EvalRunner runner, TenantContext tenant, AuditLog audit)
{
    /// <summary>True when the signed-in user may change sets and examples.</summary>
    public bool CanEdit => Policies.RolesFor[Policies.PromptEditor].Any(tenant.User.IsInRole);

    /// <summary>True when the signed-in user reads every set (prompt readers: platform staff); false for a tenant admin.</summary>
    public bool ReadsAll => Policies.RolesFor[Policies.PromptReader].Any(tenant.User.IsInRole);

    /// <summary>
    /// The tenant whose sets a tenant admin (or an admin API key, which the endpoint's scope requires) works on: their
    /// own. Null for everyone else, a tenant member included.
    /// </summary>
    private Guid? OwnTenant => tenant.User.IsInRole(Roles.TenantAdmin) || tenant.User.FindFirstValue(KeystoneClaims.ApiKeyId) is not null
        ? tenant.TenantId
        : null;

    private string UserId => tenant.UserId ?? "unknown";

    /// <summary>True when the signed-in user may see <paramref name="set"/>: prompt readers every set, a tenant admin their own tenant's.</summary>
    public bool CanView(EvalSetRow set) => ReadsAll || (set.TenantId is { } owner && owner == OwnTenant);

    /// <summary>
    /// True when the signed-in user may choose <paramref name="set"/>'s nightly alias: prompt editors on every set, a
    /// tenant admin on their own tenant's (choosing which alias a feature's calls go to is theirs, decision 0050).
    /// </summary>
    public bool CanSetNightly(EvalSetRow set) => CanEdit || (set.TenantId is { } owner && owner == OwnTenant);

    /// <summary>The sets the user may see (<see cref="CanView"/>), optionally of one prompt.</summary>
    public async Task<IReadOnlyList<EvalSetRow>> ListSetsAsync(string? promptName, CancellationToken ct)
    {
        var sets = await store.ListSetsAsync(promptName, ct);
        return ReadsAll ? sets : sets.Where(CanView).ToList();
    }

    public Task<(IReadOnlyList<(Guid Id, string Name)> Tenants, IReadOnlyList<string> Prompts)> ChoicesAsync(CancellationToken ct) => store.ChoicesAsync(ct);

    /// <summary>One set; null when there is none or the user may not see it (<see cref="CanView"/>).</summary>
    public async Task<EvalSetRow?> GetSetAsync(Guid setId, CancellationToken ct) =>
        await store.GetSetAsync(setId, ct) is { } set && CanView(set) ? set : null;

    /// <summary>A set's examples; a set the user may not see throws not found, as one that does not exist.</summary>
    public async Task<IReadOnlyList<EvalExampleRow>> ListExamplesAsync(Guid setId, CancellationToken ct)
    {
        if (!ReadsAll && await GetSetAsync(setId, ct) is null)
        {
            throw NoSuchSet();
        }

        return await store.ListExamplesAsync(setId, ct);
    }

    public async Task<EvalSetRow> CreateSetAsync(string promptName, Guid? tenantId, string? description, CancellationToken ct)
    {
        Demand();
        var set = await store.CreateSetAsync(promptName, tenantId, description, ct);
        await audit.WriteAsync("eval_set.create", $"eval_set:{set.Id}", set.TenantId, new { set.Name }, ct);
        return set;
    }

    public async Task<EvalSetRow> CreateFeatureSetAsync(string feature, Guid? tenantId, string? description, CancellationToken ct)
    {
        Demand();
        var set = await store.CreateFeatureSetAsync(feature, tenantId, description, ct);
        await audit.WriteAsync("eval_set.create", $"eval_set:{set.Id}", set.TenantId, new { set.Name, set.Feature }, ct);
        return set;
    }

    /// <summary>
    /// The aliases (and raw <c>provider/model</c> ids) a set's runs may use: the set's tenant's, or the platform tenant's
    /// for a global set. The nightly alias form offers these.
    /// </summary>
    public async Task<IReadOnlyList<string>> AliasesAsync(Guid setId, CancellationToken ct) =>
        await runner.ChoicesAsync(setId, ct) is { } choices ? choices.Aliases : [];

    /// <summary>
    /// Chooses the alias a feature's set runs on every night (null or blank: not nightly), for a prompt editor on any set
    /// and a tenant admin (console or admin API key) on their own tenant's (<see cref="CanSetNightly"/>). The alias must
    /// be one the set's tenant may use (a typo would fail every night). Audited with the alias before when it changed;
    /// true when it did.
    /// </summary>
    public async Task<bool> SetNightlyAliasAsync(EvalSetRow set, string? alias, CancellationToken ct)
    {
        if (!CanEdit && OwnTenant is null)
        {
            Demand();
        }

        // Whose set it is decides, as stored, not as the caller's row says; another tenant's set reads as none.
        set = await store.GetSetAsync(set.Id, ct) is { } stored && CanSetNightly(stored) ? stored : throw NoSuchSet();
        var value = string.IsNullOrWhiteSpace(alias) ? null : alias.Trim();
        if (value is not null && !(await AliasesAsync(set.Id, ct)).Contains(value, StringComparer.Ordinal))
        {
            throw new EvalException(EvalException.Invalid, $"\"{value}\" is not an alias or model {(set.TenantId is null ? "the platform" : set.Owner)} may use: choose one from the list.");
        }

        var (before, changed) = await store.SetNightlyAliasAsync(set.Id, value, ct);
        if (changed)
        {
            await audit.WriteAsync("eval_set.nightly_alias", $"eval_set:{set.Id}", set.TenantId, new { set.Name, before, alias = value }, ct);
        }

        return changed;
    }

    public async Task<EvalExampleRow> AddExampleAsync(EvalSetRow set, EvalExampleInput input, CancellationToken ct)
    {
        Demand();
        var row = await store.AddExampleAsync(set.Id, input, UserId, ct);
        await audit.WriteAsync("eval_example.create", $"eval_example:{row.Id}", set.TenantId, new { evalSet = set.Name }, ct);
        return row;
    }

    public async Task<EvalExampleRow> UpdateExampleAsync(EvalSetRow set, EvalExampleRow example, EvalExampleInput input, CancellationToken ct)
    {
        Demand();
        var row = await store.UpdateExampleAsync(example.Id, example.Version, input, ct);
        await audit.WriteAsync("eval_example.update", $"eval_example:{row.Id}", set.TenantId, new { evalSet = set.Name }, ct);
        return row;
    }

    public async Task DeleteExampleAsync(EvalSetRow set, Guid exampleId, CancellationToken ct)
    {
        Demand();
        if (await store.DeleteExampleAsync(exampleId, ct))
        {
            await audit.WriteAsync("eval_example.delete", $"eval_example:{exampleId}", set.TenantId, new { evalSet = set.Name }, ct);
        }
    }

    public async Task<EvalImportResult> ImportJsonlAsync(EvalSetRow set, string text, CancellationToken ct)
    {
        Demand();
        var result = await store.ImportJsonlAsync(set.Id, text, UserId, ct);
        if (result.Imported > 0)
        {
            await audit.WriteAsync("eval_example.import", $"eval_set:{set.Id}", set.TenantId, new { evalSet = set.Name, result.Imported }, ct);
        }

        return result;
    }

    private static EvalException NoSuchSet() => new(EvalException.NotFound, "There is no such eval set, or it belongs to another tenant.");

    private void Demand()
    {
        if (!CanEdit)
        {
            throw new EvalException(EvalException.Forbidden, "Changing eval sets needs the prompt editor role.");
        }
    }
}
