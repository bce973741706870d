using Hangfire;
using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Gateway;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Features.Prompts;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Agents;

/// <summary>Whom a run acts for and what they may do.</summary>
/// <param name="UserId">The console user who started it, if any.</param>
/// <param name="ApiKeyId">The API key that started it, if any.</param>
/// <param name="OnBehalfOf">The user id, or <c>api-key:&lt;id&gt;</c>.</param>
/// <param name="Permissions">From <see cref="AgentPermissions"/>.</param>
internal sealed record RunActor(string? UserId, Guid? ApiKeyId, string OnBehalfOf, IReadOnlyList<string> Permissions);

/// <summary>A run with its steps, as the API and the console show it.</summary>
internal sealed record RunView(AgentRun Run, IReadOnlyList<AgentRunStep> Steps);

/// <summary>Starts, reads and cancels runs. The loop itself is <see cref="AgentRunner"/>, run by <see cref="AgentRunJob"/>.</summary>
internal sealed class AgentRunService(KeystoneDbFactory dbFactory, PromptRenderer prompts, IBackgroundJobClient jobs, IApprovalService approvals,
    AgentRunNotices notices, TimeProvider clock)
{
    /// <summary>The code of a cancel that lost to an approval being handed over (409).</summary>
    public const string AlreadyApproved = "already_approved";

    public const int MaxInputLength = 32_000;

    /// <summary>Stores a queued run and hands it to a worker.</summary>
    public async Task<AgentRun> StartAsync(Guid tenantId, Guid agentId, string input, RunActor actor, CancellationToken ct)
    {
        var run = await CreateAsync(tenantId, agentId, input, actor, ct);
        Enqueue(run.Id);
        return run;
    }

    /// <summary>Hands a run to a worker (Hangfire); a worker that finds it held or finished does nothing.</summary>
    public void Enqueue(Guid runId) => jobs.Enqueue<AgentRunJob>(j => j.RunAsync(runId, CancellationToken.None));

    /// <summary>Stores a queued run: the agent's model, system prompt (its managed version, resolved now), allowlist and caps.</summary>
    public async Task<AgentRun> CreateAsync(Guid tenantId, Guid agentId, string input, RunActor actor, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(input) || input.Length > MaxInputLength)
        {
            throw AgentException.Bad("input", $"Give the run an input of 1 to {MaxInputLength} characters.");
        }

        Agent agent;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            agent = await db.Agents.AsNoTracking().SingleOrDefaultAsync(a => a.Id == agentId && a.TenantId == tenantId, ct)
                ?? throw AgentException.Missing("There is no such agent in this tenant.");
        }

        string? system = null;
        Guid? versionId = null;
        if (agent.PromptName is { } promptName)
        {
            try
            {
                var (_, version) = await prompts.ResolveAsync(promptName, tenantId, agent.PromptVersionNumber, ct);
                system = version.SystemTemplate;
                versionId = version.Id;
            }
            catch (PromptException ex)
            {
                throw new AgentException(409, ex.Code, $"The agent's system prompt cannot be used: {ex.Message}", "prompt");
            }
        }

        return await InsertAsync(new AgentRun
        {
            TenantId = tenantId, AgentId = agent.Id, AgentName = agent.Name, Model = agent.ModelAlias, SystemPrompt = system,
            PromptName = agent.PromptName, PromptVersionId = versionId, Tools = agent.Tools, Input = input,
            RunBudgetMicros = agent.RunBudgetMicros, MaxSteps = agent.MaxSteps,
        }, actor, ct);
    }

    /// <summary>Stores <paramref name="run"/> as a new queued run (ids, actor, times) with its first status event.</summary>
    internal async Task<AgentRun> InsertAsync(AgentRun run, RunActor actor, CancellationToken ct, IEnumerable<AgentRunStep>? copiedSteps = null)
    {
        var now = clock.GetUtcNow();
        run.Id = Guid.CreateVersion7(now);
        run.TraceId = CallIds.NewVersion7(now);
        run.State = AgentRunState.Queued;
        run.OnBehalfOf = actor.OnBehalfOf;
        run.StartedByUserId = actor.UserId;
        run.ApiKeyId = actor.ApiKeyId;
        run.Permissions = AgentPermissions.Format(actor.Permissions);
        run.CreatedUtc = run.UpdatedUtc = now.UtcDateTime;
        await using var db = dbFactory.ForTenant(run.TenantId);
        db.AgentRuns.Add(run);
        foreach (var step in copiedSteps ?? [])
        {
            step.RunId = run.Id;
            db.AgentRunSteps.Add(step);
        }

        AgentRunEvents.Add(db, run.TenantId, run.Id, AgentRunEvents.Status, new { state = "queued" }, now.UtcDateTime);
        await db.SaveChangesAsync(ct);
        notices.Changed(run.TenantId, run.Id);
        return run;
    }

    /// <summary>
    /// A new run that starts as a copy of a finished run's steps before <paramref name="fromStep"/> and continues from
    /// there on <paramref name="model"/> (null: the original's). The original is untouched; copied tool steps keep their
    /// results (they are not run again), steps from <paramref name="fromStep"/> on are made anew. The replay's cost counts
    /// its own calls only. With <paramref name="platformPays"/> (support or platform staff replaying) its model calls are
    /// billed to the platform, not the tenant; a tenant's own replay is billed to the tenant like any run.
    /// </summary>
    public async Task<AgentRun> ReplayAsync(Guid tenantId, Guid runId, int fromStep, string? model, RunActor actor, IReadOnlyList<string> allowedModels,
        CancellationToken ct, bool platformPays = false)
    {
        var view = await GetAsync(tenantId, runId, ct) ?? throw AgentException.Missing("There is no such run.");
        var original = view.Run;
        if (!AgentRunEvents.IsFinished(original.State))
        {
            throw new AgentException(409, AgentException.Conflict, "Only a finished run can be replayed; this one is still going.", "run");
        }

        if (fromStep < 0 || fromStep > view.Steps.Count)
        {
            throw AgentException.Bad("fromStep", $"Choose a step from 0 to {view.Steps.Count}.");
        }

        var target = string.IsNullOrWhiteSpace(model) ? original.Model : model.Trim();
        if (!allowedModels.Contains(target, StringComparer.OrdinalIgnoreCase))
        {
            throw AgentException.Bad("model", $"'{target}' is not a chat model this tenant may use.");
        }

        var copied = view.Steps.Where(s => s.Sequence < fromStep).ToList();
        if (copied.Any(s => s.State is AgentStepState.Started or AgentStepState.AwaitingApproval))
        {
            throw AgentException.Bad("fromStep", "A step before the chosen one never finished; replay from that step or an earlier one.");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var steps = copied.Select(s => new AgentRunStep
        {
            Id = Guid.CreateVersion7(), TenantId = s.TenantId, Sequence = s.Sequence, Kind = s.Kind, State = s.State, CallId = s.CallId,
            Provider = s.Provider, Model = s.Model, CostMicros = s.CostMicros, InputTokens = s.InputTokens, OutputTokens = s.OutputTokens, Text = s.Text,
            ToolCallsJson = s.ToolCallsJson, Tool = s.Tool, ToolCallId = s.ToolCallId, InputJson = s.InputJson, OutputJson = s.OutputJson,
            IdempotencyKey = s.IdempotencyKey, AutonomyLevel = s.AutonomyLevel, Truncated = s.Truncated, ApprovalId = s.ApprovalId,
            ErrorCode = s.ErrorCode, Error = s.Error, CreatedUtc = now, CompletedUtc = now,
        }).ToList();
        var replay = await InsertAsync(new AgentRun
        {
            TenantId = tenantId, AgentId = original.AgentId, AgentName = original.AgentName, Model = target, SystemPrompt = original.SystemPrompt,
            PromptName = original.PromptName, PromptVersionId = original.PromptVersionId, Tools = original.Tools, Input = original.Input,
            RunBudgetMicros = original.RunBudgetMicros, MaxSteps = original.MaxSteps,
            ModelCalls = copied.Count(s => s.Kind == AgentStepKind.Model), ReplayOfRunId = original.Id, ReplayFromStep = fromStep,
        }, actor with { OnBehalfOf = original.OnBehalfOf, Permissions = PermissionsOf(original, platformPays) }, ct, steps);
        Enqueue(replay.Id);
        return replay;
    }

    /// <summary>
    /// A replay acts for whom the original acted for, with the same tool permissions; who pays is decided anew by who
    /// replays it (a tenant replaying a support replay pays for its own).
    /// </summary>
    private static IReadOnlyList<string> PermissionsOf(AgentRun run, bool platformPays)
        => [.. ToolRegistry.Split(run.Permissions).Where(p => p != AgentPermissions.PlatformPays), .. platformPays ? [AgentPermissions.PlatformPays] : Array.Empty<string>()];

    /// <summary>Whether the platform pays for this run's model calls (a support replay).</summary>
    public static bool PlatformPaysFor(AgentRun run) => AgentPermissions.Has(run.Permissions, AgentPermissions.PlatformPays);

    public async Task<RunView?> GetAsync(Guid tenantId, Guid runId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var run = await db.AgentRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId && r.TenantId == tenantId, ct);
        if (run is null)
        {
            return null;
        }

        var steps = await db.AgentRunSteps.AsNoTracking().Where(s => s.RunId == runId).OrderBy(s => s.Sequence).ToListAsync(ct);
        return new RunView(run, steps);
    }

    /// <summary>
    /// The run's events after <paramref name="afterEventId"/>, in order (at most <paramref name="take"/>): the same rows the
    /// SSE stream sends, so the playground and the API show one taxonomy.
    /// </summary>
    public async Task<IReadOnlyList<AgentRunEvent>> EventsAsync(Guid tenantId, Guid runId, long afterEventId, int take, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        return await db.AgentRunEvents.AsNoTracking().Where(e => e.TenantId == tenantId && e.RunId == runId && e.Id > afterEventId)
            .OrderBy(e => e.Id).Take(take).ToListAsync(ct);
    }

    /// <summary>The runs <paramref name="userId"/> started in the tenant, newest first (the playground's "your runs").</summary>
    public async Task<IReadOnlyList<AgentRun>> ListStartedByAsync(Guid tenantId, string userId, int take, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        return await db.AgentRuns.AsNoTracking().Where(r => r.TenantId == tenantId && r.StartedByUserId == userId)
            .OrderByDescending(r => r.CreatedUtc).Take(take).ToListAsync(ct);
    }

    /// <summary>A tenant's latest runs (of one agent, when given), newest first.</summary>
    public async Task<IReadOnlyList<AgentRun>> ListAsync(Guid tenantId, Guid? agentId, int take, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var q = db.AgentRuns.AsNoTracking().Where(r => r.TenantId == tenantId);
        if (agentId is { } a)
        {
            q = q.Where(r => r.AgentId == a);
        }

        return await q.OrderByDescending(r => r.CreatedUtc).Take(take).ToListAsync(ct);
    }

    /// <summary>
    /// Cancels a run: one that no worker holds (queued, waiting for approval) ends now; a running one is flagged and its
    /// worker stops at the next step boundary. A run waiting for approval ends in one transaction with its pending action,
    /// which is closed as cancelled (audited as <paramref name="by"/>, out of the inbox at once), so an approve racing the
    /// cancel loses with 409 <c>action_cancelled</c>. If the approval came first, it keeps the action, never both: while
    /// it is being handed over the cancel changes nothing and answers 409 <see cref="AlreadyApproved"/>; once handed over,
    /// the approved call is carried out and the run stops right after it (the answer is its state then, not
    /// <c>cancelled</c>). Returns the run's state after the request; null when there is no such run.
    /// </summary>
    public async Task<AgentRunState?> CancelAsync(Guid tenantId, Guid runId, CancellationToken ct, SourceCanceller? by = null)
    {
        by ??= new SourceCanceller("system", "agents", "Agents");
        AgentRunState? state = null;
        // Each pass acts on the state it read with a statement conditional on that state; a run that moved on meanwhile
        // (parked for approval, resumed, claimed) is read again, so a cancel never silently does nothing.
        for (var pass = 0; pass < 4; pass++)
        {
            await using (var read = dbFactory.ForTenant(tenantId))
            {
                state = await read.AgentRuns.AsNoTracking().Where(r => r.Id == runId && r.TenantId == tenantId)
                    .Select(r => (AgentRunState?)r.State).SingleOrDefaultAsync(ct);
            }

            var approvedCallWaits = state == AgentRunState.Queued && await HasApprovedCallToRunAsync(tenantId, runId, ct);
            switch (state)
            {
                case null:
                    return null;
                case { } finished when AgentRunEvents.IsFinished(finished):
                    return state;
                case AgentRunState.WaitingApproval:
                    var outcome = await approvals.CancelWithSourceAsync(tenantId, AgentApprovalHandler.Kind, runId, by,
                        (db, c) => EndNowAsync(db, tenantId, runId, AgentRunState.WaitingApproval, c), ct);
                    if (outcome.Result == SourceCancellationResult.ApprovalWon)
                    {
                        throw new AgentException(409, AlreadyApproved, outcome.Message ?? "An approval is being carried out; cancel again to stop the run at its next step.", "run");
                    }

                    if (outcome.Result == SourceCancellationResult.Cancelled)
                    {
                        notices.Changed(tenantId, runId);
                        return AgentRunState.Cancelled;
                    }

                    break;
                case AgentRunState.Queued when approvedCallWaits:
                    // Its approval was handed over first and won the action: it is carried out, and the run stops right
                    // after it (the worker reads the flag at that step boundary). The answer says "queued", not "cancelled".
                    await using (var db = dbFactory.ForTenant(tenantId))
                    {
                        var now = clock.GetUtcNow().UtcDateTime;
                        if (await db.AgentRuns.Where(r => r.Id == runId && r.TenantId == tenantId
                                && (r.State == AgentRunState.Queued || r.State == AgentRunState.Running))
                            .ExecuteUpdateAsync(s => s.SetProperty(r => r.CancelRequested, true).SetProperty(r => r.UpdatedUtc, now), ct) > 0)
                        {
                            return await db.AgentRuns.AsNoTracking().Where(r => r.Id == runId).Select(r => (AgentRunState?)r.State).SingleAsync(ct);
                        }
                    }

                    break;
                case AgentRunState.Queued:
                    await using (var db = dbFactory.ForTenant(tenantId))
                    {
                        await using var tx = await db.Database.BeginTransactionAsync(ct);
                        if (await EndNowAsync(db, tenantId, runId, AgentRunState.Queued, ct))
                        {
                            await db.SaveChangesAsync(ct);
                            await tx.CommitAsync(ct);
                            notices.Changed(tenantId, runId);
                            return AgentRunState.Cancelled;
                        }
                    }

                    break;
                default:
                    await using (var db = dbFactory.ForTenant(tenantId))
                    {
                        var now = clock.GetUtcNow().UtcDateTime;
                        if (await db.AgentRuns.Where(r => r.Id == runId && r.TenantId == tenantId && r.State == AgentRunState.Running)
                            .ExecuteUpdateAsync(s => s.SetProperty(r => r.CancelRequested, true).SetProperty(r => r.UpdatedUtc, now), ct) > 0)
                        {
                            return AgentRunState.Running;
                        }
                    }

                    break;
            }
        }

        return state;
    }

    /// <summary>Whether the run has an approved tool call that no worker has carried out yet (handed over, then queued).</summary>
    private async Task<bool> HasApprovedCallToRunAsync(Guid tenantId, Guid runId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        return await db.AgentRunSteps.AnyAsync(s => s.RunId == runId && s.Kind == AgentStepKind.Tool && s.State == AgentStepState.Started
            && s.ApprovalId != null, ct);
    }

    /// <summary>The signed-in console user as the one who cancels (named in the audit log and on a closed approval).</summary>
    public static SourceCanceller CancellerOf(Keystone.Web.Platform.TenantContext tenant)
        => new("user", tenant.UserId ?? "", tenant.User.FindFirst(System.Security.Claims.ClaimTypes.Email)?.Value ?? tenant.User.Identity?.Name);

    /// <summary>
    /// Ends a run that no worker holds and that is in <paramref name="from"/>, with its status and done events added to
    /// <paramref name="db"/> (saved by the caller, in the caller's transaction). False when it moved on meanwhile.
    /// </summary>
    private async Task<bool> EndNowAsync(KeystoneDbContext db, Guid tenantId, Guid runId, AgentRunState from, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var ended = await db.AgentRuns
            .Where(r => r.Id == runId && r.TenantId == tenantId && r.LeaseId == null && r.State == from)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.State, AgentRunState.Cancelled).SetProperty(r => r.CancelRequested, true)
                .SetProperty(r => r.ErrorCode, AgentRunner.Cancelled).SetProperty(r => r.Error, "The run was cancelled.")
                .SetProperty(r => r.FinishedUtc, now).SetProperty(r => r.UpdatedUtc, now), ct);
        if (ended == 0)
        {
            return false;
        }

        var cost = await db.AgentRuns.Where(r => r.Id == runId).Select(r => r.CostMicros).SingleAsync(ct);
        AgentRunEvents.Add(db, tenantId, runId, AgentRunEvents.Status, new { state = "cancelled" }, now);
        AgentRunEvents.Add(db, tenantId, runId, AgentRunEvents.Done, new { state = "cancelled", output = (string?)null, costMicros = cost, code = AgentRunner.Cancelled }, now);
        return true;
    }
}
