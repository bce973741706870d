using Keystone.Data.Agents;
using Keystone.Testing;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary>
/// A run paused on <c>send_email</c> through the real approvals service: approve resumes it and the email lands in the
/// sink once; reject and expiry hand the refusal back to the model and nothing is sent. Run on SQLite and PostgreSQL.
/// </summary>
public abstract class AgentApprovalEndToEndTests(AgentAppFixture fixture)
{
    private static readonly ApprovalActor Admin = new(ApprovalActor.UserType, "acme-admin-test", "admin@acme.demo", "TenantAdmin", false);

    [Fact]
    public async Task Approve_ResumesTheRunAndTheEmailIsSentOnce_AndTheAuditLogHoldsTheChain()
    {
        var (run, action) = await PausedOnSendEmailAsync();
        Assert.Equal("send_email", action.Tool);
        Assert.Equal(run.OnBehalfOf, action.OnBehalfOfUserId);

        await DecideAsync(action.Id, ApprovalVerdict.Approve, """{"to":"customer@acme.example","subject":"Outage over","body":"All systems are back."}""");

        var done = await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Failed);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        await using var db = fixture.Db();
        var mail = await db.MailSink.AsNoTracking().SingleAsync(m => m.RunId == run.Id);
        Assert.Equal("customer@acme.example", mail.To);
        var (_, steps) = await fixture.ReadAsync(run.Id);
        var tool = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(AgentStepState.Completed, tool.State);
        Assert.Equal(action.Id, tool.ApprovalId);
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "agent.approval.request" && a.Target == $"pending_action:{action.Id}" && a.OnBehalfOf == run.OnBehalfOf));
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "approval.approve" && a.Target == $"pending_action:{action.Id}" && a.OnBehalfOf == run.OnBehalfOf));
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "agent.tool.send_email" && a.Target == $"agent_run:{run.Id}" && a.OnBehalfOf == run.OnBehalfOf));
    }

    [Fact]
    public async Task Reject_TheModelIsToldAndNothingIsSent()
    {
        var (run, action) = await PausedOnSendEmailAsync();

        await DecideAsync(action.Id, ApprovalVerdict.Reject, null, "Do not email this customer.");

        var done = await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Failed);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var (_, steps) = await fixture.ReadAsync(run.Id);
        var tool = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal(AgentStepState.Rejected, tool.State);
        Assert.Contains("Do not email this customer.", tool.OutputJson, StringComparison.Ordinal);
        Assert.Equal(AgentStepKind.Model, steps[^1].Kind);
        // The (simulated) model tells the person the email was not sent, with the approver's comment.
        Assert.Contains("was not executed", done.Output, StringComparison.Ordinal);
        Assert.Contains("Do not email this customer.", done.Output, StringComparison.Ordinal);
        await using var db = fixture.Db();
        Assert.False(await db.MailSink.AnyAsync(m => m.RunId == run.Id));
    }

    [Fact]
    public async Task Expire_TheJobRejectsItAndTheRunHandsItBackToTheModel()
    {
        var (run, action) = await PausedOnSendEmailAsync();
        await using (var db = fixture.Db())
        {
            var past = DateTime.UtcNow.AddMinutes(-1);
            await db.PendingActions.Where(a => a.Id == action.Id).ExecuteUpdateAsync(s => s.SetProperty(a => a.ExpiresUtc, past));
        }

        using (var scope = fixture.App.Services.CreateScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<ApprovalService>().ExpireDueAsync(CancellationToken.None) >= 1);
        }

        await AssertHandedOverAsync(action.Id);

        var done = await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Failed);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        var (_, steps) = await fixture.ReadAsync(run.Id);
        var tool = Assert.Single(steps, s => s.Kind == AgentStepKind.Tool);
        Assert.Equal("approval_expired", tool.ErrorCode);
        await using var after = fixture.Db();
        Assert.False(await after.MailSink.AnyAsync(m => m.RunId == run.Id));
    }

    private async Task<(AgentRun Run, PendingActionView Action)> PausedOnSendEmailAsync()
    {
        var agent = await fixture.CreateAgentAsync(["send_email"]);
        var run = await fixture.CreateRunAsync(agent, "Tell the customer the outage is over. [sim:tool=send_email]", admin: false);
        await fixture.WorkAsync(run.Id);
        var (paused, _) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.WaitingApproval, paused.State);
        using var scope = fixture.App.Services.CreateScope();
        var pending = await scope.ServiceProvider.GetRequiredService<ApprovalService>().PendingAsync(DemoData.AcmeId, CancellationToken.None);
        return (paused, Assert.Single(pending, a => a.SourceId == run.Id));
    }

    private async Task DecideAsync(Guid actionId, ApprovalVerdict verdict, string? editedInput, string? comment = null)
    {
        using var scope = fixture.App.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<ApprovalService>().DecideAsync(DemoData.AcmeId, actionId, verdict, editedInput, comment, Admin,
            CancellationToken.None);
        await AssertHandedOverAsync(actionId);
    }

    /// <summary>The approvals service handed the decision to the run's handler without an error.</summary>
    private async Task AssertHandedOverAsync(Guid actionId)
    {
        await using var db = fixture.Db();
        var row = await db.PendingActions.AsNoTracking().SingleAsync(a => a.Id == actionId);
        Assert.Null(row.HandlerError);
        Assert.NotNull(row.HandledUtc);
    }
}

public sealed class SqliteApprovalsAppFixture : AgentAppFixture
{
    /// <summary>The open run views' safety poll here: far longer than any test waits, so a view that updates in a test was
    /// told by a notice (the playground's agent mode tests prove push, not polling).</summary>
    public const int SafetyPollSeconds = 600;

    protected override bool RecordApprovals => false;

    protected override Task<KeystoneAppFactory> CreateAppAsync()
        => Task.FromResult(new KeystoneAppFactory().WithSetting("Agents:LiveSafetyPollSeconds", SafetyPollSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}

public sealed class PostgresApprovalsAppFixture : AgentAppFixture
{
    private readonly PostgresAgentAppFixture _inner = new();

    protected override bool RecordApprovals => false;

    protected override Task<KeystoneAppFactory> CreateAppAsync() => _inner.CreatePostgresAppAsync();

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _inner.DisposeDatabaseAsync();
    }
}

public sealed class SqliteAgentApprovalEndToEndTests(SqliteApprovalsAppFixture fixture) : AgentApprovalEndToEndTests(fixture), IClassFixture<SqliteApprovalsAppFixture>;

public sealed class PostgresAgentApprovalEndToEndTests(PostgresApprovalsAppFixture fixture) : AgentApprovalEndToEndTests(fixture), IClassFixture<PostgresApprovalsAppFixture>;
