using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Agents.Tools;

/// <summary>What an undo request got: the outcome, the step and tool, when and by whom it was undone, in words.</summary>
internal sealed record UndoAnswer(UndoOutcome Outcome, int Step, string Tool, DateTime? UndoneUtc, string? UndoneBy, string Message);

/// <summary>An L2 step the run page may offer to undo: its state, and until when it can be undone.</summary>
internal sealed record UndoableStep(int Step, string Tool, DateTime? UndoneUtc, string? UndoneBy, DateTime UndoUntilUtc);

/// <summary>
/// L2 "act with undo": a person undoes what a tool did at L2, within <see cref="ToolOptions.UndoWindowMinutes"/>, from the
/// run page or the API. The undo is idempotent (a second one changes nothing and says it was already undone) and the
/// undo that changed the record is audited. The model is not told: the run's conversation is history and stays as it was
/// (decision 0045).
/// </summary>
internal sealed class ToolUndoService(KeystoneDbFactory dbFactory, ToolRegistry registry, AuditLog audit, IOptions<ToolOptions> options, TimeProvider clock)
{
    public const string NotUndoable = "not_undoable";
    public const string WindowClosed = "undo_window_closed";

    /// <summary>Undoes step <paramref name="sequence"/> of the run. Throws <see cref="AgentException"/> (404, 409) when it cannot be.</summary>
    public async Task<UndoAnswer> UndoAsync(Guid tenantId, Guid runId, int sequence, string actor, CancellationToken ct)
    {
        var (step, tool) = await FindAsync(tenantId, runId, sequence, ct);
        var now = clock.GetUtcNow().UtcDateTime;
        var result = await tool.UndoAsync(tenantId, step.IdempotencyKey!, actor, now.AddMinutes(-options.Value.UndoWindowMinutes), dbFactory, clock, ct);
        switch (result.Outcome)
        {
            case UndoOutcome.Undone:
                await audit.WriteAsync("agent.tool.undo", $"agent_run:{runId}", tenantId, new { step = sequence, tool = step.Tool, key = step.IdempotencyKey }, ct);
                return new UndoAnswer(result.Outcome, sequence, step.Tool!, result.UndoneUtc, result.UndoneBy, $"Undone: what '{step.Tool}' did in step {sequence} was withdrawn.");
            case UndoOutcome.AlreadyUndone:
                return new UndoAnswer(result.Outcome, sequence, step.Tool!, result.UndoneUtc, result.UndoneBy,
                    $"It was already undone at {result.UndoneUtc:yyyy-MM-dd HH:mm:ss} UTC; nothing changed now.");
            case UndoOutcome.WindowClosed:
                throw new AgentException(409, WindowClosed, $"Step {sequence} can no longer be undone: undo is open for {options.Value.UndoWindowMinutes} minutes after the tool acted.");
            default:
                throw new AgentException(409, NotUndoable, $"Step {sequence} left no record to undo.");
        }
    }

    /// <summary>The run's L2 steps that can be (or were) undone, for the run page.</summary>
    public async Task<IReadOnlyList<UndoableStep>> UndoableStepsAsync(Guid tenantId, Guid runId, CancellationToken ct)
    {
        List<AgentRunStep> steps;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            steps = await db.AgentRunSteps.AsNoTracking()
                .Where(s => s.TenantId == tenantId && s.RunId == runId && s.Kind == AgentStepKind.Tool && s.State == AgentStepState.Completed
                    && s.AutonomyLevel == (int)AutonomyLevel.ActWithUndo && s.IdempotencyKey != null)
                .OrderBy(s => s.Sequence).ToListAsync(ct);
        }

        var tools = await registry.ForTenantAsync(tenantId, ct);
        var result = new List<UndoableStep>();
        foreach (var step in steps)
        {
            if (tools.Find(step.Tool!) is IUndoableTool tool && await tool.UndoStateAsync(tenantId, step.IdempotencyKey!, dbFactory, ct) is { } state)
            {
                result.Add(new UndoableStep(step.Sequence, step.Tool!, state.UndoneUtc, state.UndoneBy,
                    (step.CompletedUtc ?? step.CreatedUtc).AddMinutes(options.Value.UndoWindowMinutes)));
            }
        }

        return result;
    }

    private async Task<(AgentRunStep Step, IUndoableTool Tool)> FindAsync(Guid tenantId, Guid runId, int sequence, CancellationToken ct)
    {
        AgentRunStep? step;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            step = await db.AgentRunSteps.AsNoTracking()
                .SingleOrDefaultAsync(s => s.TenantId == tenantId && s.RunId == runId && s.Sequence == sequence, ct);
        }

        if (step is null)
        {
            throw AgentException.Missing("No such step of a run in this tenant.");
        }

        var tools = await registry.ForTenantAsync(tenantId, ct);
        if (step.Kind != AgentStepKind.Tool || step.State != AgentStepState.Completed || step.AutonomyLevel != (int)AutonomyLevel.ActWithUndo
            || step.IdempotencyKey is null || tools.Find(step.Tool ?? "") is not IUndoableTool tool)
        {
            throw new AgentException(409, NotUndoable, $"Step {sequence} is not an action taken at L2 (act with undo), so there is nothing to undo.");
        }

        return (step, tool);
    }
}
