using System.Text.Json;
using Keystone.Data.Agents;
using Keystone.Gateway;
using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary>
/// Durable agent runs against the real app on one database (the simulated provider answers; its <c>[sim:tool=…]</c>
/// marker makes the model call a named tool): refusals go back to the model, a killed worker is resumed by the janitor
/// without repeating a completed tool call, caps and cancel stop the run, and approval pauses and resumes it.
/// Run on SQLite and PostgreSQL by the subclasses below.
/// </summary>
public abstract class AgentRunTests(AgentAppFixture fixture)
{
    [Fact]
    public async Task Run_ToolNotOnTheAllowlist_IsRefusedAndTheRefusalGoesBackToTheModel()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);
        var run = await fixture.CreateRunAsync(agent, "Give the customer a credit. [sim:tool=issue_credit]");

        await fixture.WorkAsync(run.Id);

        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        Assert.Equal([AgentStepKind.Model, AgentStepKind.Tool, AgentStepKind.Model], steps.Select(s => s.Kind));
        Assert.Equal(AgentStepState.Refused, steps[1].State);
        Assert.Equal("tool_not_allowed", steps[1].ErrorCode);
        Assert.Contains("not allowed", steps[1].OutputJson, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(done.Output));
        await using var db = fixture.Db();
        Assert.False(await db.CustomerCredits.AnyAsync(c => c.RunId == run.Id));
    }

    [Fact]
    public async Task Run_ToolWithoutPermission_IsRefusedAndNothingIsDone()
    {
        var agent = await fixture.CreateAgentAsync(["issue_credit"]);
        var run = await fixture.CreateRunAsync(agent, "Credit the customer. [sim:tool=issue_credit]", admin: false);

        await fixture.WorkAsync(run.Id);

        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var tool = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(AgentStepState.Refused, tool.State);
        Assert.Equal("permission_denied", tool.ErrorCode);
        Assert.Empty(fixture.Approvals.For(run.Id));
    }

    [Fact]
    public async Task Run_InputThatFailsTheSchema_IsRefusedWithWhereAndNothingIsDone()
    {
        var agent = await fixture.CreateAgentAsync(["create_support_ticket"]);
        var run = await fixture.CreateRunAsync(agent, "Open a ticket. [sim:tool=create_support_ticket] [sim:badargs]");

        await fixture.WorkAsync(run.Id);

        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var tool = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal("invalid_input", tool.ErrorCode);
        Assert.Contains("required", tool.Error, StringComparison.OrdinalIgnoreCase);
        await using var db = fixture.Db();
        Assert.False(await db.SupportTickets.AnyAsync(t => t.RunId == run.Id));
    }

    [Fact]
    public async Task Run_AutonomousTool_RunsPersistsEachStepWithCostAndIsAudited()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);
        var run = await fixture.CreateRunAsync(agent, "How much did we spend today? [sim:tool=get_usage_summary]");

        await fixture.WorkAsync(run.Id);

        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var tool = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(AgentStepState.Completed, tool.State);
        Assert.Equal(5, tool.AutonomyLevel);
        Assert.Contains("spend_usd", tool.OutputJson, StringComparison.Ordinal);
        var models = steps.Where(s => s.Kind == AgentStepKind.Model).ToList();
        Assert.Equal(2, models.Count);
        Assert.All(models, m => Assert.True(m.CostMicros > 0 && m.CallId is not null));
        Assert.Equal(models.Sum(m => m.CostMicros), done.CostMicros);
        Assert.Equal(2, done.ModelCalls);
        await using var db = fixture.Db();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "agent.tool.get_usage_summary" && a.Target == $"agent_run:{run.Id}" && a.ActorType == "agent"));
        var events = await db.AgentRunEvents.AsNoTracking().Where(e => e.RunId == run.Id).OrderBy(e => e.Id).Select(e => e.Type).ToListAsync();
        Assert.Equal(["status", "status", "tool_use", "tool_result", "token", "status", "done"], events);
    }

    [Fact]
    public async Task Run_WorkerKilledAfterATool_JanitorResumesWithoutRepeatingTheToolCall()
    {
        var agent = await fixture.CreateAgentAsync(["create_support_ticket"]);
        var run = await fixture.CreateRunAsync(agent, "Open a ticket about the outage. [sim:tool=create_support_ticket]");
        fixture.Probe.KillAfterStep(run.Id, s => s.Kind == AgentStepKind.Tool && s.State == AgentStepState.Completed);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fixture.WorkAsync(run.Id));
        var (dead, _) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Running, dead.State);
        Assert.Equal(0, await JanitorAsync());
        await MakeHeartbeatStaleAsync(run.Id);
        Assert.Equal(1, await JanitorAsync());

        var done = await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Failed);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        Assert.Equal(1, done.Resumes);
        var (_, steps) = await fixture.ReadAsync(run.Id);
        Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        await using var db = fixture.Db();
        Assert.Equal(1, await db.SupportTickets.CountAsync(t => t.RunId == run.Id));
    }

    [Fact]
    public async Task Run_WorkerKilledAfterTheToolRanBeforeItsResultWasStored_ResumeRunsItUnderTheSameKeyOnce()
    {
        var agent = await fixture.CreateAgentAsync(["create_support_ticket"]);
        var run = await fixture.CreateRunAsync(agent, "Open a ticket about billing. [sim:tool=create_support_ticket]");
        fixture.Probe.KillAfterToolRan(run.Id, _ => true);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fixture.WorkAsync(run.Id));
        var (_, before) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentStepState.Started, Assert.Single(before, s => s.Kind == AgentStepKind.Tool).State);
        await MakeHeartbeatStaleAsync(run.Id);
        Assert.True(await fixture.WorkAsync(run.Id));

        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var tool = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(AgentStepState.Completed, tool.State);
        await using var db = fixture.Db();
        var ticket = await db.SupportTickets.AsNoTracking().SingleAsync(t => t.RunId == run.Id);
        Assert.Equal(tool.IdempotencyKey, ticket.IdempotencyKey);
    }

    [Fact]
    public async Task Run_LiveWorkersRun_CannotBeTakenByAnotherWorker()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);
        var run = await fixture.CreateRunAsync(agent, "Usage? [sim:tool=get_usage_summary]");
        var second = false;
        fixture.Probe.AfterStep(run.Id, async s =>
        {
            if (s.Sequence == 0)
            {
                second = await fixture.WorkAsync(run.Id);
            }
        });

        await fixture.WorkAsync(run.Id);

        Assert.False(second);
        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        Assert.Equal(0, done.Resumes);
        Assert.Equal(3, steps.Count);
    }

    [Fact]
    public async Task Run_ModelThatKeepsCallingTools_StopsAtTheStepCap()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"], maxSteps: 3);
        var run = await fixture.CreateRunAsync(agent, "Check again and again. [sim:toolloop=get_usage_summary]");

        await fixture.WorkAsync(run.Id);

        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Failed, done.State);
        Assert.Equal(AgentRunner.StepCapReached, done.ErrorCode);
        Assert.Equal(3, done.ModelCalls);
        Assert.Equal(3, steps.Count(s => s.Kind == AgentStepKind.Model));
    }

    [Fact]
    public async Task Run_RunBudget_StopsBeforeTheCallThatCouldPassIt()
    {
        const long budget = 3_000;
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"], runBudgetMicros: budget, maxSteps: 50);
        var run = await fixture.CreateRunAsync(agent, "Check again and again. [sim:toolloop=get_usage_summary]");

        await fixture.WorkAsync(run.Id);

        var (done, _) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Failed, done.State);
        Assert.Equal(AgentRunner.RunBudgetExhausted, done.ErrorCode);
        Assert.InRange(done.ModelCalls, 1, 49);
        Assert.InRange(done.CostMicros, 1, budget);
    }

    [Fact]
    public async Task Cancel_QueuedRun_EndsAtOnceAndNoWorkerRunsIt()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);
        var run = await fixture.CreateRunAsync(agent, "Usage?");

        var state = await CancelAsync(run.Id);
        var worked = await fixture.WorkAsync(run.Id);

        Assert.Equal(AgentRunState.Cancelled, state);
        Assert.False(worked);
        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Cancelled, done.State);
        Assert.Empty(steps);
    }

    [Fact]
    public async Task Cancel_RunningRun_StopsAtTheNextStepBoundary()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);
        var run = await fixture.CreateRunAsync(agent, "Check again and again. [sim:toolloop=get_usage_summary]");
        AgentRunState? answered = null;
        fixture.Probe.AfterStep(run.Id, async s =>
        {
            if (s.Sequence == 0)
            {
                answered = await CancelAsync(run.Id);
            }
        });

        await fixture.WorkAsync(run.Id);

        Assert.Equal(AgentRunState.Running, answered);
        var (done, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Cancelled, done.State);
        Assert.Equal(1, done.ModelCalls);
        Assert.Single(steps); // The tool call the first step asked for was not made.
    }

    [Fact]
    public async Task Run_SendEmail_PausesForApproval_ThenApprovalRunsItOnce()
    {
        var agent = await fixture.CreateAgentAsync(["send_email"]);
        var run = await fixture.CreateRunAsync(agent, "Email the customer that the outage is over. [sim:tool=send_email]");

        await fixture.WorkAsync(run.Id);

        var (paused, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.WaitingApproval, paused.State);
        Assert.Null(paused.LeaseId);
        var waiting = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(AgentStepState.AwaitingApproval, waiting.State);
        var (approvalId, request) = Assert.Single(fixture.Approvals.For(run.Id));
        Assert.Equal(approvalId, waiting.ApprovalId);
        Assert.Equal("agent_run", request.SourceKind);
        Assert.Equal("send_email", request.Tool);
        Assert.Equal("TenantAdmin", request.ApproverRole);
        Assert.Equal("test-user", request.OnBehalfOfUserId);
        Assert.True(request.InputEditable);
        Assert.Contains("someone@example.com", request.Summary, StringComparison.Ordinal);
        await using (var db = fixture.Db())
        {
            Assert.False(await db.MailSink.AnyAsync(m => m.RunId == run.Id));
        }

        var edited = """{"to":"ceo@customer.example","subject":"All clear","body":"The outage is over."}""";
        await DecideAsync(approvalId, request, ApprovalOutcome.Approved, edited);
        await DecideAsync(approvalId, request, ApprovalOutcome.Approved, edited); // A repeated decision changes nothing.

        var done = await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Failed);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        await using var after = fixture.Db();
        var mail = await after.MailSink.AsNoTracking().SingleAsync(m => m.RunId == run.Id);
        Assert.Equal("ceo@customer.example", mail.To);
        Assert.True(await after.AuditLog.AnyAsync(a => a.Action == "agent.tool.send_email" && a.Target == $"agent_run:{run.Id}" && a.OnBehalfOf == "test-user"));
    }

    [Fact]
    public async Task Run_IssueCreditRejected_TheRejectionGoesBackToTheModelAndNothingIsSpent()
    {
        var agent = await fixture.CreateAgentAsync(["issue_credit"]);
        var run = await fixture.CreateRunAsync(agent, "Give a credit for the outage. [sim:tool=issue_credit]");

        await fixture.WorkAsync(run.Id);
        var (approvalId, request) = Assert.Single(fixture.Approvals.For(run.Id));
        using (var input = JsonDocument.Parse(request.InputJson))
        {
            Assert.Equal(input.RootElement.GetProperty("amount_cents").GetInt64() * 10_000, request.AmountMicroUsd);
        }

        await DecideAsync(approvalId, request, ApprovalOutcome.Rejected, request.InputJson, "Not for this customer.");

        var done = await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Failed);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var (_, steps) = await fixture.ReadAsync(run.Id);
        var tool = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(AgentStepState.Rejected, tool.State);
        Assert.Contains("Not for this customer.", tool.OutputJson, StringComparison.Ordinal);
        Assert.Equal(AgentStepKind.Model, steps[^1].Kind);
        await using var db = fixture.Db();
        Assert.False(await db.CustomerCredits.AnyAsync(c => c.RunId == run.Id));
    }

    [Fact]
    public async Task Save_SetsTheDayBudgetAsTheGatewaysFeatureCapOnTheAgentsLabel()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"], runBudgetMicros: 20_000);

        var budget = await fixture.App.Services.GetRequiredService<IBudgetService>().GetAsync(DemoData.AcmeId, CancellationToken.None);

        var cap = Assert.Single(budget.Caps, c => c.Scope == BudgetScope.Feature && c.Key == AgentCatalog.FeatureLabelOf(agent.Id));
        Assert.Equal(BudgetPeriod.Day, cap.Period);
        Assert.Equal(agent.DayBudgetMicros, cap.LimitMicros);
    }

    [Fact]
    public async Task Replay_FailedRunFromAStepOnAnotherModel_IsANewRunAndTheOriginalIsUntouched()
    {
        var agent = await fixture.CreateAgentAsync(["create_support_ticket"], maxSteps: 3);
        var run = await fixture.CreateRunAsync(agent, "Open tickets. [sim:toolloop=create_support_ticket]");
        await fixture.WorkAsync(run.Id);
        var (failed, originalSteps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Failed, failed.State);
        int ticketsBefore;
        await using (var before = fixture.Db())
        {
            // The cap stops the run before its fourth model call; the third's tool call was made.
            ticketsBefore = await before.SupportTickets.CountAsync(t => t.RunId == run.Id);
            Assert.Equal(originalSteps.Count(s => s.Kind == AgentStepKind.Tool), ticketsBefore);
        }

        AgentRun replay;
        using (var scope = fixture.App.Services.CreateScope())
        {
            replay = await scope.ServiceProvider.GetRequiredService<AgentRunService>().ReplayAsync(DemoData.AcmeId, run.Id, 2, "smart",
                new RunActor("support-user", null, "support-user", []), ["fast", "smart"], CancellationToken.None);
        }

        await fixture.FinishAsync(replay.Id, AgentRunState.Succeeded, AgentRunState.Failed);
        var (again, steps) = await fixture.ReadAsync(replay.Id);
        Assert.Equal(run.Id, again.ReplayOfRunId);
        Assert.Equal("smart", again.Model);
        Assert.Equal(run.OnBehalfOf, again.OnBehalfOf);
        Assert.Equal(originalSteps.Take(2).Select(s => (s.Kind, s.State, s.OutputJson)), steps.Take(2).Select(s => (s.Kind, s.State, s.OutputJson)));
        Assert.Contains(steps.Skip(2), s => s.Kind == AgentStepKind.Model && s.Model == "sim-smart");
        var (untouched, stepsAfter) = await fixture.ReadAsync(run.Id);
        Assert.Equal(failed.UpdatedUtc, untouched.UpdatedUtc);
        Assert.Equal(originalSteps.Count, stepsAfter.Count);
        await using var db = fixture.Db();
        // The copied step's ticket is not opened again; only the replay's own later calls open new ones, under the replay.
        Assert.Equal(ticketsBefore, await db.SupportTickets.CountAsync(t => t.RunId == run.Id));
        Assert.Equal(steps.Count(s => s.Kind == AgentStepKind.Tool && s.Sequence >= 2), await db.SupportTickets.CountAsync(t => t.RunId == replay.Id));
    }

    private async Task<int> JanitorAsync()
    {
        using var scope = fixture.App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<AgentRunJanitorJob>().RunAsync(CancellationToken.None);
    }

    private async Task<AgentRunState?> CancelAsync(Guid runId)
    {
        using var scope = fixture.App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<AgentRunService>().CancelAsync(DemoData.AcmeId, runId, CancellationToken.None);
    }

    private async Task DecideAsync(Guid approvalId, PendingActionRequest request, ApprovalOutcome outcome, string finalInput, string? comment = null)
    {
        using var scope = fixture.App.Services.CreateScope();
        var handler = scope.ServiceProvider.GetServices<IApprovalDecisionHandler>().Single(h => h.SourceKind == "agent_run");
        await handler.OnDecidedAsync(new ApprovalDecision(approvalId, request.TenantId, request.SourceKind, request.SourceId, request.SourceStepKey, outcome,
            finalInput, "approver", comment), CancellationToken.None);
    }

    /// <summary>The worker died ten minutes ago: its heartbeat is that old.</summary>
    private async Task MakeHeartbeatStaleAsync(Guid runId)
    {
        await using var db = fixture.Db();
        var stale = DateTime.UtcNow.AddMinutes(-10);
        await db.AgentRuns.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.HeartbeatUtc, stale));
    }
}

public sealed class SqliteAgentRunTests(SqliteAgentAppFixture fixture) : AgentRunTests(fixture), IClassFixture<SqliteAgentAppFixture>;

public sealed class PostgresAgentRunTests(PostgresAgentAppFixture fixture) : AgentRunTests(fixture), IClassFixture<PostgresAgentAppFixture>;
