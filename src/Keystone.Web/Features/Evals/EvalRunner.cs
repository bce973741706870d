using System.Security.Claims;
using Keystone.Data.Identity;
using Keystone.Data.Evals;
using Keystone.Gateway;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// Starting, cancelling and retrying runs for the console and the API: runs spend money, so they need the prompt editor
/// role (checked here as well as on the page) or an <c>admin</c> API key (authorized by the endpoint's policy, limited to
/// its own tenant's sets by the endpoint). Every start, cancel and retry is audited and a queued run is handed to the job queue.
/// </summary>
internal sealed class EvalRunner(EvalRunStore store, IEvalRunQueue queue, ILlmGateway gateway, TenantContext tenant, AuditLog audit, EvalBatchRunner batch)
{
    /// <summary>True when the caller may start, cancel and retry runs.</summary>
    public bool CanRun => Policies.RolesFor[Policies.PromptEditor].Any(tenant.User.IsInRole)
                          || tenant.User.FindFirstValue(KeystoneClaims.ApiKeyId) is not null;

    public EvalRunStore Store => store;

    /// <summary>True when the caller reads every run and set (prompt readers: platform staff); false for a tenant admin.</summary>
    public bool ReadsAll => Policies.RolesFor[Policies.PromptReader].Any(tenant.User.IsInRole);

    /// <summary>
    /// True when the caller may see <paramref name="run"/>: prompt readers every run; a tenant admin the runs of their own
    /// tenant's sets (override runs, which their drift alerts link to), never another tenant's or a global set's.
    /// </summary>
    public bool CanView(EvalRunView run) => ReadsAll
        || (tenant.User.IsInRole(Roles.TenantAdmin) && run.TenantId is { } owner && tenant.TenantId == owner);

    /// <summary>The start form's choices for a set, with the chat aliases and raw <c>provider/model</c> ids its runs may use; null for an unknown set.</summary>
    public async Task<(EvalRunChoices Choices, IReadOnlyList<string> Aliases)?> ChoicesAsync(Guid setId, CancellationToken ct)
    {
        if (await store.ChoicesAsync(setId, ct) is not { } choices)
        {
            return null;
        }

        var aliases = choices.BillingTenantId == Guid.Empty
            ? []
            // Aliases first, then the raw provider/model ids the tenant may use (issue 23, item 6): comparing one exact model
            // against an alias is what a routing decision needs.
            : (await gateway.ModelsAsync(choices.BillingTenantId, ct)).Where(m => !m.IsEmbedding)
                .OrderBy(m => m.Kind == "alias" ? 0 : 1).ThenBy(m => m.Id, StringComparer.Ordinal).Select(m => m.Id).Distinct().ToList();
        return (choices, aliases);
    }

    /// <summary>The worst case of running the set live and as a batch (null when it cannot be estimated: no examples, an unknown model).</summary>
    public Task<BatchEstimate?> EstimateAsync(Guid setId, int? version, string alias, CancellationToken ct) => batch.EstimateAsync(setId, version, alias, ct);

    /// <summary>Creates the run (queued), audits it and hands it to a worker.</summary>
    public async Task<EvalRunView> StartAsync(EvalRunRequest request, CancellationToken ct)
    {
        Demand();
        var user = tenant.User;
        var starter = new EvalRunStarter(
            user.FindFirstValue(KeystoneClaims.ApiKeyId) is { } key ? $"api_key:{key}" : tenant.UserId ?? "unknown",
            user.FindFirstValue(ClaimTypes.Email) ?? user.Identity?.Name);
        var run = await store.CreateAsync(request, starter, ct);
        await audit.WriteAsync("eval_run.start", $"eval_run:{run.Id}", run.TenantId,
            new { set = run.SetName, prompt = run.PromptName, version = run.Version, alias = run.Alias, trigger = run.Trigger.ToString().ToLowerInvariant(), examples = run.Total,
                mode = run.Mode == EvalRunMode.Batch ? "batch" : "live" }, ct);
        if (run.Mode == EvalRunMode.Batch)
        {
            return await SubmitBatchAsync(run, ct);
        }

        queue.Enqueue(run.Id);
        return run;
    }

    /// <summary>
    /// A batch run is submitted while the starter waits (decision 0049): the whole batch is held on the caps first, so a
    /// batch the caps cannot hold is refused here with the cap's reason (the run is kept, failed with it), nothing submitted.
    /// </summary>
    private async Task<EvalRunView> SubmitBatchAsync(EvalRunView run, CancellationToken ct)
    {
        var worker = Guid.NewGuid().ToString("N");
        if (await store.ClaimAsync(run.Id, worker, ct) && (await batch.TakeAsync(run.Id, worker, ct)).Refusal is { } refusal)
        {
            throw new EvalException(refusal.Code switch
            {
                GatewayErrorCodes.BudgetExceeded => EvalException.BudgetExceeded,
                BatchErrorCodes.NotSupported => BatchErrorCodes.NotSupported,
                GatewayErrorCodes.UpstreamError or GatewayErrorCodes.UpstreamUnavailable => EvalException.Upstream,
                _ => EvalException.Invalid,
            }, refusal.Message);
        }

        return (await store.GetAsync(run.Id, ct))!;
    }

    /// <summary>Asks the run to stop at the next example boundary (a queued run is cancelled at once); false when it is already over.</summary>
    public async Task<bool> CancelAsync(Guid runId, CancellationToken ct)
    {
        Demand();
        var run = await store.GetAsync(runId, ct) ?? throw new EvalException(EvalException.NotFound, "There is no such eval run.");
        var cancelled = await store.CancelAsync(runId, ct);
        if (cancelled)
        {
            await audit.WriteAsync("eval_run.cancel", $"eval_run:{runId}", run.TenantId, null, ct);
        }

        return cancelled;
    }

    /// <summary>Queues a finished run again for its failed (and unanswered) examples only; false when there is nothing to retry.</summary>
    public async Task<bool> RetryAsync(Guid runId, CancellationToken ct)
    {
        Demand();
        var run = await store.GetAsync(runId, ct) ?? throw new EvalException(EvalException.NotFound, "There is no such eval run.");
        if (!await store.RetryAsync(runId, ct))
        {
            return false;
        }

        await audit.WriteAsync("eval_run.retry", $"eval_run:{runId}", run.TenantId, new { errored = run.Errored, unanswered = run.Total - run.Completed }, ct);
        queue.Enqueue(runId);
        return true;
    }

    private void Demand()
    {
        if (!CanRun)
        {
            throw new EvalException(EvalException.Forbidden, "Running evals needs the prompt editor role.");
        }
    }
}
