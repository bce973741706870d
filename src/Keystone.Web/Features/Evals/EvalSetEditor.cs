using Keystone.Web.Hosting;
using Keystone.Web.Platform;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// The console's eval-set edits: reading needs the prompt reader role (the page's policy), every change the prompt
/// editor role, checked here as well as on the page so no other caller slips past it; every change is audited.
/// </summary>
internal sealed class EvalSetEditor(EvalSetStore store, TenantContext tenant, AuditLog audit)
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
