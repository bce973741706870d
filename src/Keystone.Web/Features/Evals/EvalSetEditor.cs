using System.Security.Claims;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// The console's eval-set edits: reading needs the prompt reader role (the page's policy), every change the prompt
/// editor role, checked here as well as on the page so no other caller slips past it; every change is audited.
/// </summary>
internal sealed class EvalSetEditor(EvalSetStore store, EvalRunner runner, TenantContext tenant, AuditLog audit)
{
    /// <summary>True when the signed-in user may change sets and examples.</summary>
    public bool CanEdit => Policies.RolesFor[Policies.PromptEditor].Any(tenant.User.IsInRole);

    private string UserId => tenant.UserId ?? "unknown";

    public Task<IReadOnlyList<EvalSetRow>> ListSetsAsync(string? promptName, CancellationToken ct) => store.ListSetsAsync(promptName, ct);

    public Task<(IReadOnlyList<(Guid Id, string Name)> Tenants, IReadOnlyList<string> Prompts)> ChoicesAsync(CancellationToken ct) => store.ChoicesAsync(ct);

    public Task<EvalSetRow?> GetSetAsync(Guid setId, CancellationToken ct) => store.GetSetAsync(setId, ct);

    public Task<IReadOnlyList<EvalExampleRow>> ListExamplesAsync(Guid setId, CancellationToken ct) => store.ListExamplesAsync(setId, ct);

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
    /// Chooses the alias a feature's set runs on every night (null or blank: not nightly). The alias must be one the set's
    /// tenant may use (a typo would fail every night). Audited with the alias before when it changed; true when it did.
    /// </summary>
    public async Task<bool> SetNightlyAliasAsync(EvalSetRow set, string? alias, CancellationToken ct)
    {
        // An admin API key may too (PUT /api/v1/evals/nightly, which finds its own tenant's set only): it runs that tenant's sets already.
        if (!CanEdit && tenant.User.FindFirstValue(KeystoneClaims.ApiKeyId) is null)
        {
            Demand();
        }

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

    private void Demand()
    {
        if (!CanEdit)
        {
            throw new EvalException(EvalException.Forbidden, "Changing eval sets needs the prompt editor role.");
        }
    }
}
