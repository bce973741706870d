using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Web.Features.Approvals;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// Resumes a run paused on a pending action: on approval the step runs with the final (possibly edited) input; on
/// rejection or expiry the refusal goes back to the model, which tells the person. Idempotent: a decision for a step
/// that no longer waits changes nothing.
/// </summary>
internal sealed class AgentApprovalHandler(KeystoneDbFactory dbFactory, AgentRunService runs, AgentRunNotices notices, TimeProvider clock) : IApprovalDecisionHandler
{
    public const string Kind = "agent_run";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string SourceKind => Kind;

    public async Task OnDecidedAsync(ApprovalDecision decision, CancellationToken cancellationToken)
    {
        if (!int.TryParse(decision.SourceStepKey, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var sequence))
        {
            return;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(decision.TenantId);
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var step = await db.AgentRunSteps.SingleOrDefaultAsync(s => s.RunId == decision.SourceId && s.Sequence == sequence
            && s.State == AgentStepState.AwaitingApproval, cancellationToken);
        if (step is null)
        {
            return;
        }

        // Only a run still parked on this decision is resumed (a cancelled run stays cancelled).
        var resumed = await db.AgentRuns.Where(r => r.Id == decision.SourceId && r.State == AgentRunState.WaitingApproval)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.State, AgentRunState.Queued).SetProperty(r => r.UpdatedUtc, now), cancellationToken);
        if (resumed == 0)
        {
            // The decision came between the worker's request and its pause (the action is in the inbox the moment it is
            // stored): the worker still holds the run and will park it. Failing here keeps the decision to be handed over
            // again (the approvals job retries after a minute), when the run waits for it; returning would leave the run
            // parked on a decision that was already delivered, forever.
            if (await db.AgentRuns.AnyAsync(r => r.Id == decision.SourceId && r.State == AgentRunState.Running && r.LeaseId != null, cancellationToken))
            {
                throw new InvalidOperationException("The run had not finished pausing for this approval; the decision is handed to it again shortly.");
            }

            return;
        }

        step.ApprovalId = decision.ActionId;
        string result;
        if (decision.Outcome == ApprovalOutcome.Approved)
        {
            step.State = AgentStepState.Started; // The worker runs it under its idempotency key.
            step.InputJson = decision.FinalInputJson;
            result = "approved";
        }
        else
        {
            var expired = decision.Outcome == ApprovalOutcome.Expired;
            step.State = AgentStepState.Rejected;
            step.ErrorCode = expired ? "approval_expired" : "approval_rejected";
            step.Error = expired
                ? $"Nobody approved '{step.Tool}' in time; it was not executed."
                : $"A person rejected '{step.Tool}'; it was not executed." + (string.IsNullOrWhiteSpace(decision.Comment) ? "" : $" Their comment: {decision.Comment}");
            step.OutputJson = JsonSerializer.Serialize(new { error = step.ErrorCode, message = step.Error + " Tell the person; do not try again." }, Json);
            step.CompletedUtc = now;
            result = expired ? "expired" : "rejected";
            AgentRunEvents.Add(db, step.TenantId, step.RunId, AgentRunEvents.ToolResult, new
            {
                step = step.Sequence, id = step.ToolCallId, tool = step.Tool, state = "rejected", output = step.OutputJson, truncated = false,
            }, now);
        }

        AgentRunEvents.Add(db, step.TenantId, step.RunId, AgentRunEvents.Status, new { state = "queued", approval = result }, now);
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        notices.Changed(step.TenantId, step.RunId);
        runs.Enqueue(step.RunId);
    }
}
