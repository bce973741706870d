using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Data.Agents;
using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary>L2 "act with undo": the ticket is opened at once; a person undoes it within the window, once; the run is not changed.</summary>
public abstract partial class AgentToolTests
{
    [Fact]
    public async Task Undo_L2Ticket_WithdrawsItOnce_IsAudited_ASecondUndoSaysAlreadyUndone_AndTheRunIsUntouched()
    {
        var (run, step) = await TicketRunAsync();
        await using (var before = Fx.Db())
        {
            Assert.Null((await before.SupportTickets.AsNoTracking().SingleAsync(t => t.RunId == run.Id)).UndoneUtc);
        }

        var (runBefore, stepsBefore) = await Fx.ReadAsync(run.Id);
        int eventsBefore;
        await using (var db0 = Fx.Db())
        {
            eventsBefore = await db0.AgentRunEvents.CountAsync(e => e.RunId == run.Id);
        }

        var client = await Fx.ClientForAsync(DemoData.AcmeId, "chat");

        var first = await client.PostAsync($"/api/v1/runs/{run.Id}/steps/{step.Sequence}/undo", Json("{}"));
        var second = await client.PostAsync($"/api/v1/runs/{run.Id}/steps/{step.Sequence}/undo", Json("{}"));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using (var a = JsonDocument.Parse(await first.Content.ReadAsStringAsync()))
        {
            Assert.False(a.RootElement.GetProperty("alreadyUndone").GetBoolean());
            Assert.Equal("create_support_ticket", a.RootElement.GetProperty("tool").GetString());
        }

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        using (var b = JsonDocument.Parse(await second.Content.ReadAsStringAsync()))
        {
            Assert.True(b.RootElement.GetProperty("alreadyUndone").GetBoolean());
            Assert.Contains("already undone", b.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        await using var db = Fx.Db();
        var ticket = await db.SupportTickets.AsNoTracking().SingleAsync(t => t.RunId == run.Id);
        Assert.NotNull(ticket.UndoneUtc);
        Assert.StartsWith("api_key:", ticket.UndoneBy, StringComparison.Ordinal);
        Assert.Equal(1, await db.AuditLog.CountAsync(e => e.Action == "agent.tool.undo" && e.Target == $"agent_run:{run.Id}"));
        // The model is told nothing afterwards: no step, no event, the same outcome.
        var (runAfter, stepsAfter) = await Fx.ReadAsync(run.Id);
        Assert.Equal(stepsBefore.Count, stepsAfter.Count);
        Assert.Equal(runBefore.Output, runAfter.Output);
        Assert.Equal(runBefore.State, runAfter.State);
        Assert.Equal(eventsBefore, await db.AgentRunEvents.CountAsync(e => e.RunId == run.Id));
    }

    [Fact]
    public async Task Undo_AfterTheWindow_IsRefusedAndTheTicketStands()
    {
        var (run, step) = await TicketRunAsync();
        await using (var db = Fx.Db())
        {
            var old = DateTime.UtcNow.AddHours(-3);
            await db.SupportTickets.Where(t => t.RunId == run.Id).ExecuteUpdateAsync(s => s.SetProperty(t => t.CreatedUtc, old));
        }

        var client = await Fx.ClientForAsync(DemoData.AcmeId, "chat");
        var answer = await client.PostAsync($"/api/v1/runs/{run.Id}/steps/{step.Sequence}/undo", Json("{}"));

        Assert.Equal(HttpStatusCode.Conflict, answer.StatusCode);
        using var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        Assert.Equal(ToolUndoService.WindowClosed, body.RootElement.GetProperty("error").GetProperty("code").GetString());
        await using var after = Fx.Db();
        Assert.Null((await after.SupportTickets.AsNoTracking().SingleAsync(t => t.RunId == run.Id)).UndoneUtc);
    }

    [Fact]
    public async Task Undo_AStepNotTakenAtL2_OrAnotherTenantsRun_IsRefused()
    {
        var (ticketRun, ticketStep) = await TicketRunAsync();
        var agent = await Fx.CreateAgentAsync(["get_usage_summary"]);
        var usageRun = await Fx.CreateRunAsync(agent, "Spend today? [sim:tool=get_usage_summary]");
        await Fx.WorkAsync(usageRun.Id);
        var (_, usageSteps) = await Fx.ReadAsync(usageRun.Id);
        var usageStep = Assert.Single(usageSteps, s => s.Kind == AgentStepKind.Tool);
        var acme = await Fx.ClientForAsync(DemoData.AcmeId, "chat");
        var globex = await Fx.ClientForAsync(DemoData.GlobexId, "chat");

        var notL2 = await acme.PostAsync($"/api/v1/runs/{usageRun.Id}/steps/{usageStep.Sequence}/undo", Json("{}"));
        var noStep = await acme.PostAsync($"/api/v1/runs/{ticketRun.Id}/steps/99/undo", Json("{}"));
        var otherTenant = await globex.PostAsync($"/api/v1/runs/{ticketRun.Id}/steps/{ticketStep.Sequence}/undo", Json("{}"));

        Assert.Equal(HttpStatusCode.Conflict, notL2.StatusCode);
        Assert.Contains(ToolUndoService.NotUndoable, await notL2.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, noStep.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, otherTenant.StatusCode);
        await using var db = Fx.Db();
        Assert.Null((await db.SupportTickets.AsNoTracking().SingleAsync(t => t.RunId == ticketRun.Id)).UndoneUtc);
    }

    [Fact]
    public async Task Undo_ManyAtOnce_OneUndoes_TheOthersAreToldItWasAlreadyUndone()
    {
        var (run, step) = await TicketRunAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
        {
            using var scope = Fx.App.Services.CreateScope();
            return await scope.ServiceProvider.GetRequiredService<ToolUndoService>().UndoAsync(DemoData.AcmeId, run.Id, step.Sequence, $"user-{i}", CancellationToken.None);
        }));

        Assert.Single(answers, a => a.Outcome == UndoOutcome.Undone);
        Assert.Equal(11, answers.Count(a => a.Outcome == UndoOutcome.AlreadyUndone));
        await using var db = Fx.Db();
        var ticket = await db.SupportTickets.AsNoTracking().SingleAsync(t => t.RunId == run.Id);
        Assert.Equal(answers.Single(a => a.Outcome == UndoOutcome.Undone).UndoneBy, ticket.UndoneBy);
    }

    [Fact]
    public async Task SetLevel_L2ForAToolThatCannotBeUndone_IsRefused()
    {
        using var scope = Fx.App.Services.CreateScope();
        var catalog = scope.ServiceProvider.GetRequiredService<AgentCatalog>();

        var refused = await Assert.ThrowsAsync<AgentException>(() => catalog.SetToolLevelAsync(DemoData.AcmeId, "send_email", AutonomyLevel.ActWithUndo, "test", CancellationToken.None));

        Assert.Equal("level", refused.Param);
        var levels = await catalog.ToolLevelsAsync(DemoData.AcmeId, CancellationToken.None);
        Assert.True(Assert.Single(levels, l => l.Tool.Name == "create_support_ticket").Undoable);
        Assert.False(Assert.Single(levels, l => l.Tool.Name == "send_email").Undoable);
    }

    /// <summary>A finished run whose one tool step opened a ticket at L2.</summary>
    private async Task<(AgentRun Run, AgentRunStep Step)> TicketRunAsync()
    {
        var agent = await Fx.CreateAgentAsync(["create_support_ticket"]);
        var run = await Fx.CreateRunAsync(agent, "Open a ticket about the outage. [sim:tool=create_support_ticket]");
        await Fx.WorkAsync(run.Id);
        var (done, steps) = await Fx.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var step = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal((int)AutonomyLevel.ActWithUndo, step.AutonomyLevel);
        Assert.Equal(AgentStepState.Completed, step.State);
        return (done, step);
    }
}
