using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Data.Agents;
using Keystone.Data.Approvals;
using Keystone.Testing;
using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary>
/// Cancelling a run that waits for an approval (issue 25's follow-up, item 1): the run ends and its pending action is
/// closed with it, audited and out of the inbox; an approval racing the cancel loses cleanly, or wins cleanly, never
/// both. Also the two moments between a worker's request for approval and its pause (a cancel, a decision). SQLite and
/// PostgreSQL.
/// </summary>
public abstract class AgentCancelApprovalTests(CancelApprovalsAppFixture fixture)
{
    private static readonly ApprovalActor Admin = new(ApprovalActor.UserType, "acme-admin-test", "admin@acme.demo", "TenantAdmin", false);

    private static readonly SourceCanceller Member = new("user", "test-user", "member@acme.demo");

    [Fact]
    public async Task Cancel_WhileWaitingForApproval_OverTheApi_EndsTheRunAndClosesItsAction_ThenApprovingAnswers409ActionCancelled()
    {
        var (run, action) = await PausedOnSendEmailAsync();
        var heard = new List<Guid>();
        using var subscription = fixture.App.Services.GetRequiredService<AgentRunNotices>().Subscribe(DemoData.AcmeId, run.Id, id => { lock (heard) { heard.Add(id); } });
        using var client = ApiClient();

        var cancel = await client.PostAsync($"/api/v1/runs/{run.Id}/cancel", Json("{}"));
        var approve = await client.PostAsync($"/api/v1/approvals/{action.Id}/approve", Json("{}"));

        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        Assert.Equal("cancelled", (await BodyAsync(cancel)).GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.Conflict, approve.StatusCode);
        var error = (await BodyAsync(approve)).GetProperty("error");
        Assert.Equal(ApprovalException.CancelledCode, error.GetProperty("code").GetString());
        Assert.Contains("cancelled", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        var (ended, _) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Cancelled, ended.State);
        await using var db = fixture.Db();
        var row = await db.PendingActions.AsNoTracking().SingleAsync(a => a.Id == action.Id);
        Assert.Equal(PendingActionStatus.Cancelled, row.Status);
        Assert.StartsWith("API key ", row.DecidedByName, StringComparison.Ordinal);
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "approval.cancel" && a.Target == $"pending_action:{action.Id}");
        Assert.Equal(("api_key", run.OnBehalfOf), (audit.ActorType, audit.OnBehalfOf));
        Assert.Equal(1, await db.AgentRunEvents.CountAsync(e => e.RunId == run.Id && e.Type == AgentRunEvents.Done));
        Assert.False(await db.MailSink.AnyAsync(m => m.RunId == run.Id));
        Assert.DoesNotContain(await PendingAsync(), a => a.Id == action.Id);
        lock (heard)
        {
            Assert.Contains(run.Id, heard);
        }

        // The run stays cancelled: nothing resumes it, nothing is sent.
        await fixture.WorkAsync(run.Id);
        Assert.Equal(AgentRunState.Cancelled, (await fixture.ReadAsync(run.Id)).Run.State);
    }

    [Fact]
    public async Task Cancel_WhileAnApprovalIsBeingHandedOver_Answers409AlreadyApprovedAndChangesNothing_ThenACancelStopsTheRunRightAfterTheEmail()
    {
        var (run, action) = await PausedOnSendEmailAsync();
        var gate = fixture.Gate.Arm(run.Id);
        var approving = DecideAsync(action.Id, ApprovalVerdict.Approve);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30));

        var refused = await Assert.ThrowsAsync<AgentException>(() => CancelAsync(run.Id));

        Assert.Equal((409, AgentRunService.AlreadyApproved), (refused.Status, refused.Code));
        Assert.Contains("admin@acme.demo approved 'send_email'", refused.Message, StringComparison.Ordinal);
        Assert.Equal(AgentRunState.WaitingApproval, (await fixture.ReadAsync(run.Id)).Run.State);
        gate.Release();
        Assert.Equal(PendingActionStatus.Approved, (await approving).Status);

        // Handed over: the approval won the action, so a cancel now lets it be carried out and stops the run right after.
        var state = await CancelAsync(run.Id);

        Assert.Equal(AgentRunState.Queued, state);
        Assert.True((await fixture.ReadAsync(run.Id)).Run.CancelRequested);
        var done = await fixture.FinishAsync(run.Id, AgentRunState.Cancelled, AgentRunState.Succeeded);
        Assert.Equal(AgentRunState.Cancelled, done.State);
        await using var db = fixture.Db();
        Assert.Equal(1, await db.MailSink.CountAsync(m => m.RunId == run.Id));
        var (_, steps) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentStepState.Completed, Assert.Single(steps, s => s.Kind == AgentStepKind.Tool).State);
        Assert.Equal(AgentStepKind.Tool, steps[^1].Kind); // No model call after the cancel.
    }

    [Fact]
    public async Task CancelAndApprove_AtTheSameMoment_OneWinsTheAction_TheOtherIsToldWhy_NeverBoth()
    {
        for (var round = 0; round < 6; round++)
        {
            var (run, action) = await PausedOnSendEmailAsync();
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

            var cancel = Task.Run(async () =>
            {
                await start.Task;
                try
                {
                    return (State: await CancelAsync(run.Id), Refusal: (string?)null);
                }
                catch (AgentException ex)
                {
                    return (State: (AgentRunState?)null, Refusal: (string?)ex.Code);
                }
            });
            var approve = Task.Run(async () =>
            {
                await start.Task;
                try
                {
                    await DecideAsync(action.Id, ApprovalVerdict.Approve);
                    return (string?)null;
                }
                catch (ApprovalException ex)
                {
                    return ex.Code;
                }
            });
            start.SetResult();
            var (cancelState, cancelRefusal) = await cancel;
            var approveRefusal = await approve;

            var cancelWon = cancelState == AgentRunState.Cancelled;
            var approveWon = approveRefusal is null;
            Assert.True(cancelWon != approveWon, $"round {round}: cancel {cancelState?.ToString() ?? cancelRefusal}, approve {approveRefusal ?? "200"}");
            await using var db = fixture.Db();
            var row = await db.PendingActions.AsNoTracking().SingleAsync(a => a.Id == action.Id);
            if (cancelWon)
            {
                Assert.Equal(ApprovalException.CancelledCode, approveRefusal);
                Assert.Equal(PendingActionStatus.Cancelled, row.Status);
                Assert.False(await db.MailSink.AnyAsync(m => m.RunId == run.Id));
            }
            else
            {
                // The approval took the action: the cancel was refused while it was handed over, or stops the run after it.
                Assert.True(cancelRefusal == AgentRunService.AlreadyApproved || cancelState is AgentRunState.Queued or AgentRunState.Running,
                    $"round {round}: cancel {cancelState?.ToString() ?? cancelRefusal}");
                Assert.Equal(PendingActionStatus.Approved, row.Status);
                await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Cancelled);
                Assert.Equal(1, await db.MailSink.CountAsync(m => m.RunId == run.Id));
            }
        }
    }

    [Fact]
    public async Task Cancel_ArrivingWhileTheWorkerAsksForApproval_TheRunEndsCancelledAndItsActionIsNotLeftInTheInbox()
    {
        var agent = await fixture.CreateAgentAsync(["send_email"]);
        var run = await fixture.CreateRunAsync(agent, "Tell the customer the outage is over. [sim:tool=send_email]", admin: false);
        // The cancel comes after the worker stored the action and before it pauses: the run is still running, so the
        // cancel only flags it.
        fixture.Interceptor.OnRequested(run.Id, async _ => Assert.Equal(AgentRunState.Running, await CancelAsync(run.Id)));

        await fixture.WorkAsync(run.Id);

        var (ended, _) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Cancelled, ended.State);
        await using var db = fixture.Db();
        var row = await db.PendingActions.AsNoTracking().SingleAsync(a => a.SourceId == run.Id);
        Assert.Equal(PendingActionStatus.Cancelled, row.Status);
        Assert.DoesNotContain(await PendingAsync(), a => a.SourceId == run.Id);
        Assert.Equal(1, await db.AgentRunEvents.CountAsync(e => e.RunId == run.Id && e.Type == AgentRunEvents.Done));
        Assert.False(await db.MailSink.AnyAsync(m => m.RunId == run.Id));
    }

    [Fact]
    public async Task Approve_ArrivingWhileTheWorkerAsksForApproval_IsHandedOverAgainOnceTheRunHasPaused_AndTheEmailIsSentOnce()
    {
        var agent = await fixture.CreateAgentAsync(["send_email"]);
        var run = await fixture.CreateRunAsync(agent, "Tell the customer the outage is over. [sim:tool=send_email]", admin: false);
        PendingActionView? decided = null;
        // The action is in the inbox the moment it is stored; an admin approves before the worker has paused the run.
        fixture.Interceptor.OnRequested(run.Id, async actionId => decided = await DecideAsync(actionId, ApprovalVerdict.Approve));

        await fixture.WorkAsync(run.Id);

        var action = Assert.IsType<PendingActionView>(decided);
        Assert.Equal(PendingActionStatus.Approved, action.Status);
        Assert.NotNull(action.HandlerError); // Not lost: kept to be handed over again.
        Assert.Equal(AgentRunState.WaitingApproval, (await fixture.ReadAsync(run.Id)).Run.State);
        await using (var db = fixture.Db())
        {
            // The retry's pause is over.
            await db.PendingActions.Where(a => a.Id == action.Id).ExecuteUpdateAsync(s => s.SetProperty(a => a.HandlerLeaseUntilUtc, DateTime.UtcNow.AddMinutes(-1)));
        }

        using (var scope = fixture.App.Services.CreateScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<ApprovalService>().RetryHandoversAsync(CancellationToken.None) >= 1);
        }

        var done = await fixture.FinishAsync(run.Id, AgentRunState.Succeeded, AgentRunState.Failed);
        Assert.Equal(AgentRunState.Succeeded, done.State);
        await using var after = fixture.Db();
        Assert.Equal(1, await after.MailSink.CountAsync(m => m.RunId == run.Id));
        Assert.NotNull((await after.PendingActions.AsNoTracking().SingleAsync(a => a.Id == action.Id)).HandledUtc);
    }

    private async Task<(AgentRun Run, PendingActionView Action)> PausedOnSendEmailAsync()
    {
        var agent = await fixture.CreateAgentAsync(["send_email"]);
        var run = await fixture.CreateRunAsync(agent, "Tell the customer the outage is over. [sim:tool=send_email]", admin: false);
        await fixture.WorkAsync(run.Id);
        var (paused, _) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.WaitingApproval, paused.State);
        return (paused, Assert.Single(await PendingAsync(), a => a.SourceId == run.Id));
    }

    private async Task<IReadOnlyList<PendingActionView>> PendingAsync()
    {
        using var scope = fixture.App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<ApprovalService>().PendingAsync(DemoData.AcmeId, CancellationToken.None);
    }

    private async Task<AgentRunState?> CancelAsync(Guid runId)
    {
        using var scope = fixture.App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<AgentRunService>().CancelAsync(DemoData.AcmeId, runId, CancellationToken.None, Member);
    }

    private async Task<PendingActionView> DecideAsync(Guid actionId, ApprovalVerdict verdict)
    {
        using var scope = fixture.App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<ApprovalService>().DecideAsync(DemoData.AcmeId, actionId, verdict, null, null, Admin,
            CancellationToken.None);
    }

    private HttpClient ApiClient()
    {
        var client = fixture.App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        return client;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> BodyAsync(HttpResponseMessage response)
    {
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }
}

/// <summary>
/// The app with the real approvals service, a gate in front of the run's approval handler (to hold a hand-over open),
/// a hook right after a worker's request for approval is stored (the moment before it pauses the run), and no Hangfire
/// worker for runs (each test runs its workers).
/// </summary>
public abstract class CancelApprovalsAppFixture : AgentAppFixture
{
    protected override bool RecordApprovals => false;

    internal HandOverGate Gate { get; } = new();

    internal RequestInterceptor Interceptor { get; } = new();

    protected override void ConfigureServices(IServiceCollection services)
    {
        // Handlers run in registration order: the gate goes before the run's handler, so a held hand-over has not
        // resumed the run yet.
        var runHandler = services.Single(d => d.ServiceType == typeof(IApprovalDecisionHandler) && d.ImplementationType == typeof(AgentApprovalHandler));
        services.Remove(runHandler);
        services.AddSingleton<IApprovalDecisionHandler>(Gate);
        services.Add(runHandler);
        services.AddSingleton<IApprovalService>(sp => new InterceptedApprovals(sp.GetRequiredService<ApprovalService>(), Interceptor));
        // The tests run every worker themselves: a Hangfire worker picking a resumed run up first would race them.
        services.AddSingleton<Hangfire.IBackgroundJobClient>(new HeldJobs());
    }
}

/// <summary>A job client that keeps jobs instead of running them.</summary>
internal sealed class HeldJobs : Hangfire.IBackgroundJobClient
{
    public string Create(Hangfire.Common.Job job, Hangfire.States.IState state) => Guid.NewGuid().ToString("N");

    public bool ChangeState(string jobId, Hangfire.States.IState state, string expectedState) => true;
}

public sealed class SqliteCancelApprovalsAppFixture : CancelApprovalsAppFixture
{
    protected override Task<KeystoneAppFactory> CreateAppAsync() => Task.FromResult(new KeystoneAppFactory());
}

public sealed class PostgresCancelApprovalsAppFixture : CancelApprovalsAppFixture
{
    private readonly PostgresAgentAppFixture _inner = new();

    protected override Task<KeystoneAppFactory> CreateAppAsync() => _inner.CreatePostgresAppAsync();

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _inner.DisposeDatabaseAsync();
    }
}

public sealed class SqliteAgentCancelApprovalTests(SqliteCancelApprovalsAppFixture fixture)
    : AgentCancelApprovalTests(fixture), IClassFixture<SqliteCancelApprovalsAppFixture>;

public sealed class PostgresAgentCancelApprovalTests(PostgresCancelApprovalsAppFixture fixture)
    : AgentCancelApprovalTests(fixture), IClassFixture<PostgresCancelApprovalsAppFixture>;

/// <summary>Holds the hand-over of a decision on an armed run until released.</summary>
internal sealed class HandOverGate : IApprovalDecisionHandler
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, Armed> _armed = [];

    public string SourceKind => AgentApprovalHandler.Kind;

    public Armed Arm(Guid runId)
    {
        var armed = new Armed();
        lock (_lock)
        {
            _armed[runId] = armed;
        }

        return armed;
    }

    public async Task OnDecidedAsync(ApprovalDecision decision, CancellationToken cancellationToken)
    {
        Armed? armed;
        lock (_lock)
        {
            _armed.Remove(decision.SourceId, out armed);
        }

        if (armed is not null)
        {
            armed.Enter();
            await armed.Released;
        }
    }

    internal sealed class Armed
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => _entered.Task;

        public Task Released => _released.Task;

        public void Enter() => _entered.TrySetResult();

        public void Release() => _released.TrySetResult();
    }
}

/// <summary>Runs a test's action once, right after a worker's approval request for an armed run is stored.</summary>
internal sealed class RequestInterceptor
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, Func<Guid, Task>> _after = [];

    public void OnRequested(Guid runId, Func<Guid, Task> action)
    {
        lock (_lock)
        {
            _after[runId] = action;
        }
    }

    public Func<Guid, Task>? Take(Guid runId)
    {
        lock (_lock)
        {
            return _after.Remove(runId, out var action) ? action : null;
        }
    }
}

/// <summary>The real approvals service, with the interceptor's action after a request.</summary>
internal sealed class InterceptedApprovals(ApprovalService inner, RequestInterceptor interceptor) : IApprovalService
{
    public async Task<Guid> RequestAsync(PendingActionRequest request, CancellationToken cancellationToken)
    {
        var id = await inner.RequestAsync(request, cancellationToken);
        if (interceptor.Take(request.SourceId) is { } action)
        {
            await action(id);
        }

        return id;
    }

    public Task<SourceCancellation> CancelWithSourceAsync(Guid tenantId, string sourceKind, Guid sourceId, SourceCanceller by,
        Func<Keystone.Data.KeystoneDbContext, CancellationToken, Task<bool>> endSource, CancellationToken cancellationToken)
        => inner.CancelWithSourceAsync(tenantId, sourceKind, sourceId, by, endSource, cancellationToken);
}
