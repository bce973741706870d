using System.Text;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Data.Audit;
using Keystone.Gateway;
using Keystone.Gateway.Pipeline;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Features.Approvals;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// The durable loop of one run. A worker claims the run with a lease (a conditional update, so two workers never both
/// hold it), heartbeats while it works, and persists each step — a model call with its cost, a tool call with its
/// idempotency key — before the next begins. Everything it needs to continue is in the database, so any worker can
/// pick the run up from its last persisted step: a completed tool call is never made again, and a tool call that was
/// started but not recorded is made again under the same idempotency key, which the tool honours.
/// </summary>
internal sealed class AgentRunner(
    KeystoneDbFactory dbFactory,
    ILlmGateway gateway,
    IGatewayPricing pricing,
    ToolRegistry registry,
    IServiceProvider services,
    AgentRunProbe probe,
    AgentRunNotices notices,
    IOptions<AgentsOptions> options,
    TimeProvider clock,
    ILogger<AgentRunner> log)
{
    public const string RunBudgetExhausted = "run_budget_exhausted";
    public const string StepCapReached = "step_cap_reached";
    public const string TooManyToolErrors = "too_many_tool_errors";
    public const string ModelNotPriced = "model_not_priced";
    public const string ModelError = "model_error";
    public const string Cancelled = "cancelled";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>The run's tenant's tools (built-ins and its MCP servers' tools), set when the run is claimed.</summary>
    private ToolRegistry tools = null!;

    /// <summary>
    /// Runs <paramref name="runId"/> until it finishes, pauses for approval, or <paramref name="ct"/> stops the worker.
    /// Returns false when another worker holds the run (or it is not runnable). Cancelling <paramref name="ct"/> leaves
    /// the run as it is, like a worker that died: the janitor resumes it once its heartbeat is stale.
    /// </summary>
    public async Task<bool> RunAsync(Guid runId, CancellationToken ct)
    {
        var lease = Guid.NewGuid();
        var tenantId = await ClaimAsync(runId, lease, ct);
        if (tenantId is null)
        {
            return false;
        }

        tools = await registry.ForTenantAsync(tenantId.Value, ct);
        using var beat = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var heartbeat = HeartbeatAsync(runId, tenantId.Value, lease, beat.Token);
        try
        {
            await LoopAsync(runId, tenantId.Value, lease, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            log.LogError(ex, "Agent run {RunId} failed unexpectedly", runId);
            await FinishAsync(runId, tenantId.Value, lease, AgentRunState.Failed, null, "internal_error", "The run stopped on an unexpected error.", CancellationToken.None);
        }
        finally
        {
            await beat.CancelAsync();
            try
            {
                await heartbeat;
            }
            catch (OperationCanceledException)
            {
                // The heartbeat stops with the worker.
            }
        }

        return true;
    }

    /// <summary>Takes the run: queued, or running with a stale heartbeat (its worker died). Atomic on both databases.</summary>
    private async Task<Guid?> ClaimAsync(Guid runId, Guid lease, CancellationToken ct)
    {
        var now = Now;
        var staleBefore = now.AddSeconds(-options.Value.HeartbeatTimeoutSeconds);
        await using var db = dbFactory.ForSystem();
        var tenantId = await db.AgentRuns.AsNoTracking().Where(r => r.Id == runId).Select(r => (Guid?)r.TenantId).FirstOrDefaultAsync(ct);
        if (tenantId is null)
        {
            return null;
        }

        await using var tdb = dbFactory.ForTenant(tenantId.Value);
        var claimed = await tdb.AgentRuns
            .Where(r => r.Id == runId && (r.State == AgentRunState.Queued
                || (r.State == AgentRunState.Running && (r.HeartbeatUtc == null || r.HeartbeatUtc < staleBefore))))
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Resumes, r => r.State == AgentRunState.Running ? r.Resumes + 1 : r.Resumes)
                .SetProperty(r => r.State, AgentRunState.Running)
                .SetProperty(r => r.LeaseId, lease)
                .SetProperty(r => r.HeartbeatUtc, now)
                .SetProperty(r => r.UpdatedUtc, now), ct);
        if (claimed == 0)
        {
            return null;
        }

        AgentRunEvents.Add(tdb, tenantId.Value, runId, AgentRunEvents.Status, new { state = "running" }, now);
        await tdb.SaveChangesAsync(ct);
        notices.Changed(tenantId.Value, runId);
        return tenantId;
    }

    private async Task HeartbeatAsync(Guid runId, Guid tenantId, Guid lease, CancellationToken ct)
    {
        var every = TimeSpan.FromSeconds(options.Value.HeartbeatSeconds);
        while (true)
        {
            await Task.Delay(every, clock, ct);
            await using var db = dbFactory.ForTenant(tenantId);
            var now = Now;
            await db.AgentRuns.Where(r => r.Id == runId && r.LeaseId == lease)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.HeartbeatUtc, now), ct);
        }
    }

    private async Task LoopAsync(Guid runId, Guid tenantId, Guid lease, CancellationToken ct)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            AgentRun run;
            List<AgentRunStep> steps;
            await using (var db = dbFactory.ForTenant(tenantId))
            {
                run = await db.AgentRuns.AsNoTracking().SingleAsync(r => r.Id == runId, ct);
                steps = await db.AgentRunSteps.AsNoTracking().Where(s => s.RunId == runId).OrderBy(s => s.Sequence).ToListAsync(ct);
            }

            if (run.LeaseId != lease || run.State != AgentRunState.Running)
            {
                return; // Another worker took over, or the run was finished from outside.
            }

            // Cancelled: stop at this step boundary, except for an approved call not yet carried out, whose approval was
            // handed over before the cancel and won it; the run stops right after it.
            if (run.CancelRequested && !steps.Any(s => s.Kind == AgentStepKind.Tool && s.State == AgentStepState.Started && s.ApprovalId != null))
            {
                await FinishAsync(runId, tenantId, lease, AgentRunState.Cancelled, null, Cancelled, "The run was cancelled.", ct);
                return;
            }

            var lastModel = steps.LastOrDefault(s => s.Kind == AgentStepKind.Model);
            var calls = lastModel is null ? [] : ParseCalls(lastModel.ToolCallsJson);
            if (lastModel is not null && calls.Count == 0)
            {
                await FinishAsync(runId, tenantId, lease, AgentRunState.Succeeded, lastModel.Text ?? "", null, null, ct);
                return;
            }

            var answered = steps.Where(s => s.Kind == AgentStepKind.Tool && s.Sequence > (lastModel?.Sequence ?? -1)).ToList();
            var open = calls.FirstOrDefault(c => answered.FirstOrDefault(s => s.ToolCallId == c.Id) is not { } s || !IsAnswered(s.State));
            if (open is not null)
            {
                var existing = answered.FirstOrDefault(s => s.ToolCallId == open.Id);
                if (!await ToolStepAsync(run, steps, lastModel!, open, existing, lease, ct))
                {
                    return; // Paused for approval, or the run stopped.
                }

                continue;
            }

            if (run.ModelCalls >= run.MaxSteps)
            {
                await FinishAsync(runId, tenantId, lease, AgentRunState.Failed, null, StepCapReached,
                    $"The run reached its step cap ({run.MaxSteps} model calls) before the agent finished.", ct);
                return;
            }

            if (!await ModelStepAsync(run, steps, lease, ct))
            {
                return;
            }
        }
    }

    private static bool IsAnswered(AgentStepState state)
        => state is AgentStepState.Completed or AgentStepState.Failed or AgentStepState.Refused or AgentStepState.Rejected;

    /// <summary>One model call. False when the run stopped (cap, refusal, lost lease).</summary>
    private async Task<bool> ModelStepAsync(AgentRun run, List<AgentRunStep> steps, Guid lease, CancellationToken ct)
    {
        var sequence = steps.Count == 0 ? 0 : steps[^1].Sequence + 1;
        var request = new ChatRequest
        {
            Model = run.Model,
            Messages = Messages(run, steps),
            Tools = tools.DefinitionsFor(ToolRegistry.Split(run.Tools)) is { Count: > 0 } defs ? defs : null,
            MaxTokens = options.Value.StepMaxTokens,
        };

        var worstCase = await WorstCaseMicrosAsync(run, request, ct);
        if (worstCase is null)
        {
            await FinishAsync(run.Id, run.TenantId, lease, AgentRunState.Failed, null, ModelNotPriced,
                $"'{run.Model}' has a target without a price, so the run's budget could not be held; the run stopped before calling it.", ct);
            return false;
        }

        if (run.CostMicros + worstCase.Value > run.RunBudgetMicros)
        {
            await FinishAsync(run.Id, run.TenantId, lease, AgentRunState.Failed, null, RunBudgetExhausted,
                $"The next step could cost up to {MicroUsd.Format(worstCase.Value)} and the run has {MicroUsd.Format(Math.Max(0, run.RunBudgetMicros - run.CostMicros))} "
                + $"left of its {MicroUsd.Format(run.RunBudgetMicros)} budget; the run stopped before the call.", ct);
            return false;
        }

        ChatResult result;
        try
        {
            result = await gateway.CompleteAsync(request, new CallContext
            {
                TenantId = run.TenantId,
                UserId = run.StartedByUserId,
                ApiKeyId = run.ApiKeyId,
                Feature = AgentCatalog.FeatureLabelOf(run.AgentId),
                TraceId = run.TraceId,
                PromptName = run.PromptName,
                PromptVersionId = run.PromptVersionId,
                // A support replay is the platform's cost: off the tenant's bill and caps, on the platform's keys.
                BilledToOverride = AgentRunService.PlatformPaysFor(run) ? Keystone.Data.Calls.BilledTo.Support : null,
                // A worker that dies after the call but before the step is stored repeats it under this key: the
                // gateway answers the first result again without a second provider call or charge.
                IdempotencyKey = $"agent-run:{run.Id:N}:{sequence}",
            }, ct);
        }
        catch (GatewayException ex)
        {
            var code = ex.Error.Code == GatewayErrorCodes.BudgetExceeded ? GatewayErrorCodes.BudgetExceeded : ModelError;
            await FinishAsync(run.Id, run.TenantId, lease, AgentRunState.Failed, null, code, ex.Error.Message, ct, ex.Outcome?.CostMicros ?? 0);
            return false;
        }

        var now = Now;
        var step = new AgentRunStep
        {
            Id = Guid.CreateVersion7(), TenantId = run.TenantId, RunId = run.Id, Sequence = sequence, Kind = AgentStepKind.Model,
            State = AgentStepState.Completed, CallId = result.Outcome.CallId, Provider = result.Outcome.Provider, Model = result.Outcome.Model,
            CostMicros = result.Outcome.CostMicros, InputTokens = result.Usage.InputTokens, OutputTokens = result.Usage.OutputTokens,
            Text = result.Text, ToolCallsJson = result.ToolCalls.Count == 0 ? null : JsonSerializer.Serialize(result.ToolCalls.Select(c => new StoredCall(c.Id, c.Name, c.ArgumentsJson)), Json),
            CreatedUtc = now, CompletedUtc = now,
        };
        var cost = step.CostMicros;
        if (!await PersistAsync(run.Id, run.TenantId, lease, step, db =>
            {
                if (!string.IsNullOrEmpty(result.Text))
                {
                    AgentRunEvents.Add(db, run.TenantId, run.Id, AgentRunEvents.Token, new { step = sequence, text = result.Text }, now);
                }

                foreach (var call in result.ToolCalls)
                {
                    AgentRunEvents.Add(db, run.TenantId, run.Id, AgentRunEvents.ToolUse, new { step = sequence, id = call.Id, tool = call.Name, input = call.ArgumentsJson }, now);
                }
            }, s => s.SetProperty(r => r.CostMicros, r => r.CostMicros + cost).SetProperty(r => r.ModelCalls, r => r.ModelCalls + 1), ct))
        {
            return false;
        }

        await probe.StepPersistedAsync(step, ct);
        return true;
    }

    /// <summary>One tool call the model asked for. False when the run paused for approval or stopped.</summary>
    private async Task<bool> ToolStepAsync(AgentRun run, List<AgentRunStep> steps, AgentRunStep modelStep, StoredCall call, AgentRunStep? existing,
        Guid lease, CancellationToken ct)
    {
        var allowlist = ToolRegistry.Split(run.Tools);
        if (existing is { State: AgentStepState.AwaitingApproval })
        {
            return await RequestApprovalAsync(run, modelStep, existing, lease, ct);
        }

        if (existing is { State: AgentStepState.Started })
        {
            // Approved, or started by a worker that died before recording the result: run it (again) under its key.
            return await ExecuteAsync(run, existing, tools.Find(existing.Tool!)!, lease, ct);
        }

        var sequence = steps[^1].Sequence + 1;
        int? tenantLevel;
        await using (var db = dbFactory.ForTenant(run.TenantId))
        {
            tenantLevel = await db.AgentToolSettings.AsNoTracking().Where(s => s.TenantId == run.TenantId && s.Tool == call.Name)
                .Select(s => (int?)s.Level).FirstOrDefaultAsync(ct);
        }

        var approvedBefore = steps.Any(s => s.Kind == AgentStepKind.Tool && s.Tool == call.Name && s.ApprovalId != null && s.State == AgentStepState.Completed);
        var decision = ToolGate.Decide(tools, call.Name, call.Arguments, allowlist, run.Permissions, tenantLevel, approvedBefore);
        var now = Now;
        var step = new AgentRunStep
        {
            Id = Guid.CreateVersion7(), TenantId = run.TenantId, RunId = run.Id, Sequence = sequence, Kind = AgentStepKind.Tool,
            Tool = call.Name, ToolCallId = call.Id, InputJson = call.Arguments, IdempotencyKey = $"{run.Id:N}:{sequence}",
            AutonomyLevel = decision.Level is { } l ? (int)l : null, CreatedUtc = now,
        };

        switch (decision.Verdict)
        {
            case ToolVerdict.Refuse:
                step.State = AgentStepState.Refused;
                step.ErrorCode = decision.Code;
                step.Error = decision.Message;
                step.OutputJson = JsonSerializer.Serialize(new { error = decision.Code, message = decision.Message }, Json);
                step.CompletedUtc = now;
                return await PersistToolResultAsync(run, step, lease, ct);
            case ToolVerdict.Suggest:
                step.State = AgentStepState.Completed;
                step.ErrorCode = "suggested";
                step.OutputJson = JsonSerializer.Serialize(new
                {
                    status = "suggested",
                    message = $"'{call.Name}' is suggest-only for this tenant: it was not executed. Tell the person what you suggest doing.",
                }, Json);
                step.CompletedUtc = now;
                return await PersistToolResultAsync(run, step, lease, ct);
            case ToolVerdict.NeedsApproval:
                step.State = AgentStepState.AwaitingApproval;
                if (!await PersistAsync(run.Id, run.TenantId, lease, step, _ => { }, null, ct))
                {
                    return false;
                }

                return await RequestApprovalAsync(run, modelStep, step, lease, ct);
            default:
                step.State = AgentStepState.Started;
                if (!await PersistAsync(run.Id, run.TenantId, lease, step, _ => { }, null, ct))
                {
                    return false;
                }

                return await ExecuteAsync(run, step, decision.Tool!, lease, ct);
        }
    }

    /// <summary>Runs a started step's tool under its idempotency key and records the result (or the error the model gets back).</summary>
    private async Task<bool> ExecuteAsync(AgentRun run, AgentRunStep step, IAgentTool tool, Guid lease, CancellationToken ct)
    {
        // The input may have been edited by an approver: it passes the schema again before it runs.
        if (ToolGate.CheckInput(tools, tool, step.InputJson ?? "{}") is { } invalid)
        {
            step.State = AgentStepState.Refused;
            step.ErrorCode = ToolGate.InvalidInput;
            step.Error = $"The call to '{tool.Descriptor.Name}' was not made: {invalid}";
            step.OutputJson = JsonSerializer.Serialize(new { error = step.ErrorCode, message = step.Error }, Json);
            step.CompletedUtc = Now;
            return await PersistToolResultAsync(run, step, lease, ct);
        }

        using var input = JsonDocument.Parse(step.InputJson ?? "{}");
        string output;
        try
        {
            output = await tool.ExecuteAsync(new ToolInvocation(run.TenantId, run.Id, step.IdempotencyKey!, run.OnBehalfOf, input.RootElement), dbFactory, clock, ct);
            (step.OutputJson, step.Truncated) = ToolGate.Cap(output, tool.Descriptor.OutputCapChars);
            step.State = AgentStepState.Completed;
        }
        catch (Exception ex) when (ex is ToolException or DbUpdateException or InvalidOperationException or JsonException or KeyNotFoundException)
        {
            step.State = AgentStepState.Failed;
            step.ErrorCode = ex is ToolException te ? te.Code : "tool_error";
            step.Error = ex is ToolException ? ex.Message : $"The tool '{tool.Descriptor.Name}' failed.";
            step.OutputJson = JsonSerializer.Serialize(new { error = step.ErrorCode, message = step.Error + " You may correct the input and try again." }, Json);
            log.LogWarning(ex, "Tool {Tool} failed in agent run {RunId}", tool.Descriptor.Name, run.Id);
        }

        step.CompletedUtc = Now;
        await probe.ToolExecutedAsync(step, ct);
        if (step.State == AgentStepState.Completed && (tool.Descriptor.Audited || step.AutonomyLevel == (int)AutonomyLevel.Autonomous))
        {
            await AuditAsync(run, step, ct);
        }

        return await PersistToolResultAsync(run, step, lease, ct);
    }

    private async Task<bool> PersistToolResultAsync(AgentRun run, AgentRunStep step, Guid lease, CancellationToken ct)
    {
        var now = Now;
        var failed = step.State == AgentStepState.Failed;
        var truncated = step.Truncated;
        if (!await PersistAsync(run.Id, run.TenantId, lease, step, db =>
            {
                AgentRunEvents.Add(db, run.TenantId, run.Id, AgentRunEvents.ToolResult, new
                {
                    step = step.Sequence, id = step.ToolCallId, tool = step.Tool, state = AgentRunEvents.StateName(step.State),
                    output = step.OutputJson, truncated = step.Truncated,
                }, now);
            }, s => s
                .SetProperty(r => r.ToolErrors, r => r.ToolErrors + (failed ? 1 : 0))
                .SetProperty(r => r.TruncatedOutputs, r => r.TruncatedOutputs + (truncated ? 1 : 0)), ct, update: true))
        {
            return false;
        }

        await probe.StepPersistedAsync(step, ct);
        if (failed && run.ToolErrors + 1 > options.Value.MaxToolErrors)
        {
            await FinishAsync(run.Id, run.TenantId, lease, AgentRunState.Failed, null, TooManyToolErrors,
                $"Tool calls failed {run.ToolErrors + 1} times in this run (the limit is {options.Value.MaxToolErrors}); the run stopped.", ct);
            return false;
        }

        return true;
    }

    /// <summary>Stores the pending action (idempotent per run and step) and parks the run until the decision comes back.</summary>
    private async Task<bool> RequestApprovalAsync(AgentRun run, AgentRunStep modelStep, AgentRunStep step, Guid lease, CancellationToken ct)
    {
        var tool = tools.Find(step.Tool!)!;
        var approvals = services.GetService<IApprovalService>();
        if (approvals is null)
        {
            // Without an approvals service nothing may run that needs one: refuse, and say so to the model.
            step.State = AgentStepState.Refused;
            step.ErrorCode = "approval_unavailable";
            step.Error = $"'{tool.Descriptor.Name}' needs a person's approval and approvals are not available here; it was not executed.";
            step.OutputJson = JsonSerializer.Serialize(new { error = step.ErrorCode, message = step.Error }, Json);
            step.CompletedUtc = Now;
            return await PersistToolResultAsync(run, step, lease, ct);
        }

        using var input = JsonDocument.Parse(step.InputJson ?? "{}");
        var summary = tool.Summarize(input.RootElement);
        var amount = tool.AmountMicros(input.RootElement);
        var approvalId = await approvals.RequestAsync(new PendingActionRequest(
            run.TenantId, AgentApprovalHandler.Kind, run.Id, step.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), tool.Descriptor.Name,
            step.InputJson ?? "{}", string.IsNullOrWhiteSpace(modelStep.Text) ? null : modelStep.Text, run.OnBehalfOf,
            Keystone.Data.Identity.Roles.TenantAdmin, tool.Descriptor.InputEditable, amount,
            clock.GetUtcNow().AddMinutes(options.Value.ApprovalExpiryMinutes), summary), ct);

        var now = Now;
        await using var db = dbFactory.ForTenant(run.TenantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // Not when a cancel was asked for meanwhile: a parked run is one no worker holds, so its cancel flag would never be
        // read again and the action would wait in the inbox for a run that is over.
        var parked = await db.AgentRuns.Where(r => r.Id == run.Id && r.LeaseId == lease && !r.CancelRequested)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.State, AgentRunState.WaitingApproval).SetProperty(r => r.LeaseId, (Guid?)null)
                .SetProperty(r => r.UpdatedUtc, now), ct);
        if (parked == 0)
        {
            await tx.RollbackAsync(ct);
            await CancelInsteadOfParkingAsync(run, lease, approvals, ct);
            return false;
        }

        await db.AgentRunSteps.Where(s => s.Id == step.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.ApprovalId, approvalId), ct);
        AgentRunEvents.Add(db, run.TenantId, run.Id, AgentRunEvents.ApprovalRequired, new
        {
            step = step.Sequence, tool = tool.Descriptor.Name, approvalId, summary, amountMicros = amount, input = step.InputJson,
            approverRole = Keystone.Data.Identity.Roles.TenantAdmin,
        }, now);
        AgentRunEvents.Add(db, run.TenantId, run.Id, AgentRunEvents.Status, new { state = "waiting_approval" }, now);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        notices.Changed(run.TenantId, run.Id);

        // The first link of the audit chain (request → decision → execution): the agent asked, for whom, for which action.
        await using var audit = dbFactory.ForSystem();
        audit.AuditLog.Add(new AuditEntry
        {
            ActorType = "agent", ActorId = run.AgentId.ToString(), ActorName = run.AgentName, OnBehalfOf = run.OnBehalfOf, TenantId = run.TenantId,
            Action = "agent.approval.request", Target = $"pending_action:{approvalId}",
            MetadataJson = JsonSerializer.Serialize(new { run = run.Id, step = step.Sequence, tool = tool.Descriptor.Name, level = step.AutonomyLevel }),
            CreatedUtc = now,
        });
        await audit.SaveChangesAsync(ct);
        return false;
    }

    /// <summary>
    /// Inserts (or, with <paramref name="update"/>, updates) <paramref name="step"/> with its events and the run's counters
    /// in one transaction, only while this worker still holds the lease.
    /// </summary>
    private async Task<bool> PersistAsync(Guid runId, Guid tenantId, Guid lease, AgentRunStep step, Action<KeystoneDbContext> events,
        Action<Microsoft.EntityFrameworkCore.Query.UpdateSettersBuilder<AgentRun>>? counters,
        CancellationToken ct, bool update = false)
    {
        var now = Now;
        await using var db = dbFactory.ForTenant(tenantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var held = await db.AgentRuns.Where(r => r.Id == runId && r.LeaseId == lease)
            .ExecuteUpdateAsync(s =>
            {
                s.SetProperty(r => r.UpdatedUtc, now).SetProperty(r => r.HeartbeatUtc, now);
                counters?.Invoke(s);
            }, ct);
        if (held == 0)
        {
            return false; // The janitor gave the run to another worker: this one stops without writing.
        }

        if (update && await db.AgentRunSteps.AnyAsync(s => s.Id == step.Id, ct))
        {
            db.AgentRunSteps.Update(step);
        }
        else
        {
            db.AgentRunSteps.Add(step);
        }

        events(db);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        notices.Changed(tenantId, runId);
        return true;
    }

    /// <summary>Ends the run (state, output or error) with its status and done events; only while holding the lease.</summary>
    private async Task FinishAsync(Guid runId, Guid tenantId, Guid lease, AgentRunState state, string? output, string? code, string? error,
        CancellationToken ct, long extraCostMicros = 0)
    {
        var now = Now;
        await using var db = dbFactory.ForTenant(tenantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var done = await db.AgentRuns.Where(r => r.Id == runId && r.LeaseId == lease)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.State, state).SetProperty(r => r.LeaseId, (Guid?)null)
                .SetProperty(r => r.Output, output).SetProperty(r => r.ErrorCode, code).SetProperty(r => r.Error, error)
                .SetProperty(r => r.CostMicros, r => r.CostMicros + extraCostMicros)
                .SetProperty(r => r.FinishedUtc, now).SetProperty(r => r.UpdatedUtc, now), ct);
        if (done == 0)
        {
            return;
        }

        var cost = await db.AgentRuns.Where(r => r.Id == runId).Select(r => r.CostMicros).SingleAsync(ct);
        if (code is not null && state != AgentRunState.Cancelled)
        {
            AgentRunEvents.Add(db, tenantId, runId, AgentRunEvents.Error, new { code, message = error }, now);
        }

        AgentRunEvents.Add(db, tenantId, runId, AgentRunEvents.Status, new { state = AgentRunEvents.StateName(state) }, now);
        AgentRunEvents.Add(db, tenantId, runId, AgentRunEvents.Done, new { state = AgentRunEvents.StateName(state), output, costMicros = cost, code }, now);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        notices.Changed(tenantId, runId);
    }

    /// <summary>
    /// The run was cancelled while this worker asked for an approval: it ends here as cancelled, in one transaction with the
    /// pending action it just asked for, which is closed (audited as the system) instead of waiting in an inbox. Only
    /// while this worker still holds the run; another worker that took it over decides for itself.
    /// </summary>
    private async Task CancelInsteadOfParkingAsync(AgentRun run, Guid lease, IApprovalService approvals, CancellationToken ct)
    {
        var outcome = await approvals.CancelWithSourceAsync(run.TenantId, AgentApprovalHandler.Kind, run.Id,
            new SourceCanceller("system", "agent_run.cancel", "the run's cancel request"), async (db, c) =>
            {
                var now = Now;
                var ended = await db.AgentRuns.Where(r => r.Id == run.Id && r.LeaseId == lease && r.CancelRequested)
                    .ExecuteUpdateAsync(s => s.SetProperty(r => r.State, AgentRunState.Cancelled).SetProperty(r => r.LeaseId, (Guid?)null)
                        .SetProperty(r => r.ErrorCode, Cancelled).SetProperty(r => r.Error, "The run was cancelled.")
                        .SetProperty(r => r.FinishedUtc, now).SetProperty(r => r.UpdatedUtc, now), c);
                if (ended == 0)
                {
                    return false;
                }

                var cost = await db.AgentRuns.Where(r => r.Id == run.Id).Select(r => r.CostMicros).SingleAsync(c);
                AgentRunEvents.Add(db, run.TenantId, run.Id, AgentRunEvents.Status, new { state = "cancelled" }, now);
                AgentRunEvents.Add(db, run.TenantId, run.Id, AgentRunEvents.Done, new { state = "cancelled", output = (string?)null, costMicros = cost, code = Cancelled }, now);
                return true;
            }, ct);
        if (outcome.Result == SourceCancellationResult.Cancelled)
        {
            notices.Changed(run.TenantId, run.Id);
        }
    }

    private async Task AuditAsync(AgentRun run, AgentRunStep step, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        db.AuditLog.Add(new AuditEntry
        {
            ActorType = "agent", ActorId = run.AgentId.ToString(), ActorName = run.AgentName, OnBehalfOf = run.OnBehalfOf, TenantId = run.TenantId,
            Action = "agent.tool." + step.Tool, Target = $"agent_run:{run.Id}",
            MetadataJson = JsonSerializer.Serialize(new { step = step.Sequence, level = step.AutonomyLevel, approval = step.ApprovalId, key = step.IdempotencyKey }),
            CreatedUtc = Now,
        });
        await db.SaveChangesAsync(ct);
    }

    /// <summary>
    /// The most the next call can cost: every byte of the prompt counted as a token (a byte-level BPE token covers at
    /// least one byte), all of it priced as the dearer of plain input and a one-hour cache write, plus the step's max
    /// output tokens, on the dearest target of the alias (a fallback may answer). Null when a target has no price.
    /// </summary>
    private async Task<long?> WorstCaseMicrosAsync(AgentRun run, ChatRequest request, CancellationToken ct)
    {
        var models = await gateway.ModelsAsync(run.TenantId, ct);
        var match = models.FirstOrDefault(m => string.Equals(m.Id, run.Model, StringComparison.OrdinalIgnoreCase) && !m.IsEmbedding);
        if (match is null)
        {
            return 0; // Not a model the tenant may use: the gateway refuses the call before any cost.
        }

        var targets = match.Kind == "alias" ? match.Targets : [match.Id];
        var bytes = request.Messages.Sum(m => Encoding.UTF8.GetByteCount(m.Content ?? "")
            + (m.ToolCalls ?? []).Sum(c => Encoding.UTF8.GetByteCount(c.Name) + Encoding.UTF8.GetByteCount(c.ArgumentsJson) + 16) + 16)
            + (request.Tools ?? []).Sum(t => Encoding.UTF8.GetByteCount(t.Name) + Encoding.UTF8.GetByteCount(t.Description ?? "")
                + Encoding.UTF8.GetByteCount(t.Parameters?.GetRawText() ?? "") + 16);
        long worst = 0;
        foreach (var target in targets)
        {
            if (target.Split('/', 2) is not [var provider, var model] || await pricing.FindAsync(provider, model, Now, ct) is not { } price)
            {
                return null;
            }

            var plain = price.CostMicros(new Keystone.Gateway.Usage(bytes, request.MaxTokens ?? 0));
            var written = price.CostMicros(new Keystone.Gateway.Usage(bytes, request.MaxTokens ?? 0, CacheWrite1hTokens: bytes));
            worst = Math.Max(worst, Math.Max(plain, written));
        }

        return worst;
    }

    /// <summary>The conversation so far: system prompt, the input, then each persisted step.</summary>
    internal static List<ChatMessage> Messages(AgentRun run, IReadOnlyList<AgentRunStep> steps)
    {
        var messages = new List<ChatMessage>();
        if (!string.IsNullOrWhiteSpace(run.SystemPrompt))
        {
            messages.Add(new ChatMessage("system", run.SystemPrompt));
        }

        messages.Add(new ChatMessage("user", run.Input));
        foreach (var step in steps)
        {
            if (step.Kind == AgentStepKind.Model)
            {
                var calls = ParseCalls(step.ToolCallsJson);
                messages.Add(new ChatMessage("assistant", string.IsNullOrEmpty(step.Text) && calls.Count > 0 ? null : step.Text,
                    calls.Count == 0 ? null : [.. calls.Select(c => new ToolCall(c.Id, c.Name, c.Arguments))]));
            }
            else if (IsAnswered(step.State))
            {
                messages.Add(new ChatMessage("tool", step.OutputJson ?? "", ToolCallId: step.ToolCallId, Name: step.Tool));
            }
        }

        return messages;
    }

    internal static List<StoredCall> ParseCalls(string? json)
        => string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<List<StoredCall>>(json, Json) ?? [];

    /// <summary>A tool call as stored on its model step.</summary>
    internal sealed record StoredCall(string Id, string Name, string Arguments);
}
