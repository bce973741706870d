using Keystone.Data;
using Keystone.Data.Approvals;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Web.Features.Approvals;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static Keystone.Web.Tests.Approvals.ApprovalTestData;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Approvals;

/// <summary>The approvals store and decisions on one database; run on SQLite and on PostgreSQL by the subclasses below.</summary>
public abstract class ApprovalServiceTests : IAsyncLifetime
{
    private IAsyncDisposable? _database;
    private ServiceProvider? _services;
    private readonly FakeTimeProvider _clock = new(T0);
    private readonly RecordingHandler _handler = new();
    private readonly OtherKindHandler _other = new();
    private readonly List<Guid> _notices = [];

    protected KeystoneDbFactory Factory { get; private set; } = default!;

    private ApprovalService Service { get; set; } = default!;

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        (_database, Factory) = await CreateDatabaseAsync();
        await SeedTenantsAsync(Factory);
        var services = new ServiceCollection();
        services.AddSingleton<IApprovalDecisionHandler>(_handler);
        services.AddSingleton<IApprovalDecisionHandler>(_other);
        _services = services.BuildServiceProvider();
        var notices = new InProcessApprovalNotices(NullLogger<ApprovalNotices>.Instance);
        notices.Changed += t => { lock (_notices) { _notices.Add(t); } };
        Service = new ApprovalService(Factory, _clock, notices, _services.GetRequiredService<IServiceScopeFactory>(), NullLogger<ApprovalService>.Instance);
    }

    public async Task DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    private DateTime Now => _clock.GetUtcNow().UtcDateTime;

    private async Task<PendingAction> RowAsync(Guid id)
    {
        await using var db = Factory.ForSystem();
        return await db.PendingActions.AsNoTracking().SingleAsync(a => a.Id == id);
    }

    [Fact]
    public async Task Request_SameSourceStepRepeatedAndConcurrent_StoresOneActionAndReturnsItsId()
    {
        var request = Request(Acme, Now);

        var ids = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Service.RequestAsync(request, CancellationToken.None)));
        var again = await Service.RequestAsync(request, CancellationToken.None);
        var otherStep = await Service.RequestAsync(request with { SourceStepKey = "step-2" }, CancellationToken.None);

        Assert.Single(ids.Distinct());
        Assert.Equal(ids[0], again);
        Assert.NotEqual(again, otherStep);
        await using var db = Factory.ForSystem();
        Assert.Equal(2, await db.PendingActions.CountAsync());
        var row = await RowAsync(again);
        Assert.Equal((PendingActionStatus.Pending, "send_email", 2_500_000L, "member-1", Roles.TenantAdmin, true),
            (row.Status, row.Tool, row.AmountMicros!.Value, row.OnBehalfOfUserId, row.ApproverRole, row.InputEditable));
        Assert.Contains(Acme, _notices);
    }

    [Fact]
    public async Task Request_BadInput_IsRefusedAndStoresNothing()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Service.RequestAsync(Request(Acme, Now) with { InputJson = "{not json" }, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => Service.RequestAsync(Request(Acme, Now) with { ApproverRole = "Support" }, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => Service.RequestAsync(Request(Acme, Now, expiresIn: TimeSpan.FromMinutes(-1)), CancellationToken.None));

        await using var db = Factory.ForSystem();
        Assert.False(await db.PendingActions.AnyAsync());
    }

    private static readonly SourceCanceller Canceller = new("user", "member-1", "member-1@acme.test");

    [Fact]
    public async Task CancelWithSource_PendingAction_IsClosedAuditedAndNeverHandedOver_AndADecisionThenAnswersActionCancelled()
    {
        var request = Request(Acme, Now);
        var id = await Service.RequestAsync(request, CancellationToken.None);
        lock (_notices)
        {
            _notices.Clear();
        }

        var ended = 0;

        var outcome = await Service.CancelWithSourceAsync(Acme, Kind, request.SourceId, Canceller,
            (_, _) => Task.FromResult(++ended > 0), CancellationToken.None);

        Assert.Equal((SourceCancellationResult.Cancelled, 1, 1), (outcome.Result, outcome.ActionsClosed, ended));
        var row = await RowAsync(id);
        Assert.Equal((PendingActionStatus.Cancelled, "member-1", "member-1@acme.test"), (row.Status, row.DecidedById, row.DecidedByName));
        Assert.NotNull(row.HandledUtc);
        Assert.Empty(await Service.PendingAsync(Acme, CancellationToken.None));
        Assert.Equal(0, await Service.CountWaitingAsync(Acme, Admin(), CancellationToken.None));
        Assert.Equal(PendingActionStatus.Cancelled, Assert.Single(await Service.HistoryAsync(Acme, null, CancellationToken.None)).Status);
        lock (_notices)
        {
            Assert.Contains(Acme, _notices);
        }

        await using (var db = Factory.ForSystem())
        {
            var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Target == $"pending_action:{id}");
            Assert.Equal(("approval.cancel", "user", "member-1", "member-1"), (audit.Action, audit.ActorType, audit.ActorId, audit.OnBehalfOf));
        }

        var approve = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Acme, id, ApprovalVerdict.Approve, null, null, Admin(), CancellationToken.None));
        var reject = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Acme, id, ApprovalVerdict.Reject, null, null, Admin(), CancellationToken.None));
        Assert.Equal((409, ApprovalException.CancelledCode), (approve.Status, approve.Code));
        Assert.Equal(ApprovalException.CancelledCode, reject.Code);
        Assert.Contains("cancelled by member-1@acme.test", approve.Message, StringComparison.Ordinal);
        _clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(0, await Service.ExpireDueAsync(CancellationToken.None));
        Assert.Equal(0, await Service.RetryHandoversAsync(CancellationToken.None));
        Assert.Empty(_handler.Heard);
        Assert.Equal(PendingActionStatus.Cancelled, (await RowAsync(id)).Status);
    }

    [Fact]
    public async Task CancelWithSource_TheSourceMovedOn_NothingChangesAndTheActionStaysPending()
    {
        var request = Request(Acme, Now);
        var id = await Service.RequestAsync(request, CancellationToken.None);

        var outcome = await Service.CancelWithSourceAsync(Acme, Kind, request.SourceId, Canceller, (_, _) => Task.FromResult(false), CancellationToken.None);

        Assert.Equal((SourceCancellationResult.SourceNotEnded, 0), (outcome.Result, outcome.ActionsClosed));
        Assert.Equal(PendingActionStatus.Pending, (await RowAsync(id)).Status);
        await using var db = Factory.ForSystem();
        Assert.False(await db.AuditLog.AnyAsync(a => a.Target == $"pending_action:{id}"));
    }

    [Fact]
    public async Task CancelWithSource_WhileAnApprovalIsBeingHandedOver_TheApprovalKeepsTheActionAndTheCancelChangesNothing()
    {
        var request = Request(Acme, Now);
        var id = await Service.RequestAsync(request, CancellationToken.None);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _handler.Before = async _ =>
        {
            entered.TrySetResult();
            await release.Task;
        };
        var approving = Service.DecideAsync(Acme, id, ApprovalVerdict.Approve, null, null, Admin(), CancellationToken.None);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var ended = 0;

        var outcome = await Service.CancelWithSourceAsync(Acme, Kind, request.SourceId, Canceller, (_, _) => Task.FromResult(++ended > 0), CancellationToken.None);

        release.SetResult();
        var decided = await approving;
        Assert.Equal((SourceCancellationResult.ApprovalWon, 0, 0), (outcome.Result, outcome.ActionsClosed, ended));
        Assert.Contains("admin-1@acme.test approved 'send_email'", outcome.Message, StringComparison.Ordinal);
        Assert.Equal(PendingActionStatus.Approved, decided.Status);
        Assert.NotNull(decided.HandledUtc);
        Assert.Single(_handler.Heard);
    }

    [Fact]
    public async Task CancelAndApprove_AtTheSameMoment_ExactlyOneOfThemTakesTheAction()
    {
        for (var round = 0; round < 8; round++)
        {
            var request = Request(Acme, Now, step: $"race-{round}");
            var id = await Service.RequestAsync(request, CancellationToken.None);
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

            var cancel = Task.Run(async () =>
            {
                await start.Task;
                return await Service.CancelWithSourceAsync(Acme, Kind, request.SourceId, Canceller, (_, _) => Task.FromResult(true), CancellationToken.None);
            });
            var approve = Task.Run(async () =>
            {
                await start.Task;
                try
                {
                    await Service.DecideAsync(Acme, id, ApprovalVerdict.Approve, null, null, Admin(), CancellationToken.None);
                    return (string?)null;
                }
                catch (ApprovalException ex)
                {
                    return ex.Code;
                }
            });
            start.SetResult();
            var (closed, refusal) = ((await cancel).ActionsClosed == 1, await approve);

            // Never both, never neither: the cancel closed it and the approve was told so, or the approve took it.
            Assert.True(closed != (refusal is null), $"round {round}: closed={closed}, approve refusal={refusal ?? "none"}");
            Assert.Equal(closed ? PendingActionStatus.Cancelled : PendingActionStatus.Approved, (await RowAsync(id)).Status);
            if (closed)
            {
                Assert.Equal(ApprovalException.CancelledCode, refusal);
            }
        }
    }

    [Fact]
    public async Task Approve_ByAdmin_StoresAuditsWithActorOnBehalfOfAndSourceAndHandsOverOnce()
    {
        var request = Request(Acme, Now);
        var id = await Service.RequestAsync(request, CancellationToken.None);
        _clock.Advance(TimeSpan.FromMinutes(3));

        var decided = await Service.DecideAsync(Acme, id, ApprovalVerdict.Approve, null, "Looks right", Admin(), CancellationToken.None);

        Assert.Equal((PendingActionStatus.Approved, "admin-1", "Looks right"), (decided.Status, decided.DecidedById, decided.Comment));
        Assert.Equal(Now, decided.DecidedUtc);
        Assert.NotNull(decided.HandledUtc);
        var heard = Assert.Single(_handler.Heard);
        Assert.Equal((id, Acme, request.SourceId, "step-1", ApprovalOutcome.Approved, "admin-1", "Looks right"),
            (heard.ActionId, heard.TenantId, heard.SourceId, heard.SourceStepKey, heard.Outcome, heard.DecidedByUserId, heard.Comment));
        Assert.Equal(request.InputJson, heard.FinalInputJson);
        Assert.Equal(0, _other.Calls);
        await using var db = Factory.ForSystem();
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Target == $"pending_action:{id}");
        Assert.Equal(("approval.approve", "user", "admin-1", "member-1", (Guid?)Acme), (audit.Action, audit.ActorType, audit.ActorId, audit.OnBehalfOf, audit.TenantId));
        Assert.Contains(request.SourceId.ToString(), audit.MetadataJson, StringComparison.Ordinal);
        Assert.Contains(Kind, audit.MetadataJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decide_EightConcurrentDeciders_ExactlyOneWinsAndTheOthersAreToldWhoDecided()
    {
        var id = await Service.RequestAsync(Request(Acme, Now), CancellationToken.None);

        var attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            try
            {
                var verdict = i % 2 == 0 ? ApprovalVerdict.Approve : ApprovalVerdict.Reject;
                return (Won: (PendingActionView?)await Service.DecideAsync(Acme, id, verdict, null, $"by {i}", Admin($"admin-{i}"), CancellationToken.None), Refusal: (ApprovalException?)null);
            }
            catch (ApprovalException ex)
            {
                return (Won: null, Refusal: ex);
            }
        }));

        var winner = Assert.Single(attempts, a => a.Won is not null).Won!;
        var losers = attempts.Where(a => a.Won is null).Select(a => a.Refusal!).ToList();
        Assert.Equal(7, losers.Count);
        Assert.All(losers, l => Assert.Equal((409, ApprovalException.AlreadyDecidedCode), (l.Status, l.Code)));
        Assert.All(losers, l => Assert.Contains($"by {winner.DecidedByName}", l.Message, StringComparison.Ordinal));
        var row = await RowAsync(id);
        Assert.Equal((winner.Status, winner.DecidedById, winner.Comment), (row.Status, row.DecidedById, row.Comment));
        Assert.Single(_handler.Heard);
        await using var db = Factory.ForSystem();
        Assert.Equal(1, await db.AuditLog.CountAsync(a => a.Target == $"pending_action:{id}"));
    }

    [Fact]
    public async Task EditThenApprove_EditableAction_HandsOverTheEditedInputAndKeepsTheOriginal()
    {
        var request = Request(Acme, Now);
        var id = await Service.RequestAsync(request, CancellationToken.None);

        var decided = await Service.DecideAsync(Acme, id, ApprovalVerdict.Approve, """{ "to": "customer@example.com", "subject": "Refund sent", "body": "Hi" }""", null, Admin(), CancellationToken.None);

        Assert.Equal("""{"to":"customer@example.com","subject":"Refund sent","body":"Hi"}""", decided.EditedInputJson);
        Assert.Equal(request.InputJson, decided.InputJson);
        Assert.Equal(decided.EditedInputJson, Assert.Single(_handler.Heard).FinalInputJson);
        await using var db = Factory.ForSystem();
        Assert.Contains("\"edited\":true", (await db.AuditLog.SingleAsync(a => a.Target == $"pending_action:{id}")).MetadataJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Edit_NotJsonOrNotEditableOrWithAReject_IsRefusedAndLeavesTheActionPending()
    {
        var editable = await Service.RequestAsync(Request(Acme, Now), CancellationToken.None);
        var fixedInput = await Service.RequestAsync(Request(Acme, Now, step: "step-2", editable: false), CancellationToken.None);

        var notJson = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Acme, editable, ApprovalVerdict.Approve, "{\"to\": ", null, Admin(), CancellationToken.None));
        var notEditable = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Acme, fixedInput, ApprovalVerdict.Approve, "{}", null, Admin(), CancellationToken.None));
        var withReject = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Acme, editable, ApprovalVerdict.Reject, "{}", null, Admin(), CancellationToken.None));

        Assert.All([notJson, notEditable, withReject], e => Assert.Equal((400, "input"), (e.Status, e.Field)));
        Assert.Contains("not valid JSON", notJson.Message, StringComparison.Ordinal);
        Assert.Contains("cannot be edited", notEditable.Message, StringComparison.Ordinal);
        Assert.Equal(PendingActionStatus.Pending, (await RowAsync(editable)).Status);
        Assert.Equal(PendingActionStatus.Pending, (await RowAsync(fixedInput)).Status);
        Assert.Empty(_handler.Heard);
    }

    [Fact]
    public async Task Reject_WithComment_HandsTheRejectionAndCommentBack()
    {
        var id = await Service.RequestAsync(Request(Acme, Now), CancellationToken.None);

        var decided = await Service.DecideAsync(Acme, id, ApprovalVerdict.Reject, null, "  Not to this customer  ", Admin(), CancellationToken.None);

        Assert.Equal((PendingActionStatus.Rejected, "Not to this customer"), (decided.Status, decided.Comment));
        var heard = Assert.Single(_handler.Heard);
        Assert.Equal((ApprovalOutcome.Rejected, "Not to this customer"), (heard.Outcome, heard.Comment));
    }

    [Fact]
    public async Task WhoDecides_MemberOnAdminAction_IsRefusedButMayWithdrawOwnRequest()
    {
        var adminAction = await Service.RequestAsync(Request(Acme, Now, onBehalfOf: "member-1"), CancellationToken.None);

        var approveOwn = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Acme, adminAction, ApprovalVerdict.Approve, null, null, Member("member-1"), CancellationToken.None));
        var otherMember = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Acme, adminAction, ApprovalVerdict.Reject, null, null, Member("member-2"), CancellationToken.None));
        Assert.All([approveOwn, otherMember], e => Assert.Equal((403, ApprovalException.NotApproverCode), (e.Status, e.Code)));
        Assert.Equal(PendingActionStatus.Pending, (await RowAsync(adminAction)).Status);

        var withdrawn = await Service.DecideAsync(Acme, adminAction, ApprovalVerdict.Reject, null, "never mind", Member("member-1"), CancellationToken.None);

        Assert.Equal((PendingActionStatus.Rejected, "member-1"), (withdrawn.Status, withdrawn.DecidedById));
    }

    [Fact]
    public async Task WhoDecides_MemberLevelActionByAnyMemberAndAnyActionByPlatformAdmin_AreAccepted()
    {
        var memberAction = await Service.RequestAsync(Request(Acme, Now, approverRole: Roles.TenantMember), CancellationToken.None);
        var adminAction = await Service.RequestAsync(Request(Acme, Now, step: "step-2"), CancellationToken.None);

        var byMember = await Service.DecideAsync(Acme, memberAction, ApprovalVerdict.Approve, null, null, Member("member-2"), CancellationToken.None);
        var byFounder = await Service.DecideAsync(Acme, adminAction, ApprovalVerdict.Approve, null, null, PlatformAdmin(), CancellationToken.None);

        Assert.Equal(PendingActionStatus.Approved, byMember.Status);
        Assert.Equal(PendingActionStatus.Approved, byFounder.Status);
        Assert.Equal(2, _handler.Heard.Count);
    }

    [Fact]
    public async Task Decide_AnotherTenantsAction_IsNotFound()
    {
        var id = await Service.RequestAsync(Request(Acme, Now), CancellationToken.None);

        var refusal = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Globex, id, ApprovalVerdict.Approve, null, null, Admin(), CancellationToken.None));

        Assert.Equal(404, refusal.Status);
        Assert.Empty(await Service.PendingAsync(Globex, CancellationToken.None));
        Assert.Null(await Service.GetAsync(Globex, id, CancellationToken.None));
        Assert.Equal(PendingActionStatus.Pending, (await RowAsync(id)).Status);
    }

    [Fact]
    public async Task Expiry_JobRejectsAsExpiredAuditsAndHandsOver_LeavingDecidedAndUnexpiredActionsAlone()
    {
        var expiring = await Service.RequestAsync(Request(Acme, Now, expiresIn: TimeSpan.FromMinutes(10)), CancellationToken.None);
        var decided = await Service.RequestAsync(Request(Acme, Now, step: "step-2", expiresIn: TimeSpan.FromMinutes(10)), CancellationToken.None);
        var later = await Service.RequestAsync(Request(Globex, Now, step: "step-3", expiresIn: TimeSpan.FromHours(2)), CancellationToken.None);
        await Service.DecideAsync(Acme, decided, ApprovalVerdict.Approve, null, null, Admin(), CancellationToken.None);
        _clock.Advance(TimeSpan.FromMinutes(11));

        var tooLate = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Acme, expiring, ApprovalVerdict.Approve, null, null, Admin(), CancellationToken.None));
        var expired = await Service.ExpireDueAsync(CancellationToken.None);
        var again = await Service.ExpireDueAsync(CancellationToken.None);

        Assert.Equal((409, ApprovalException.ExpiredCode), (tooLate.Status, tooLate.Code));
        Assert.Equal((1, 0), (expired, again));
        Assert.Equal(PendingActionStatus.Expired, (await RowAsync(expiring)).Status);
        Assert.Equal(PendingActionStatus.Approved, (await RowAsync(decided)).Status);
        Assert.Equal(PendingActionStatus.Pending, (await RowAsync(later)).Status);
        Assert.Equal([ApprovalOutcome.Approved, ApprovalOutcome.Expired], _handler.Heard.Select(h => h.Outcome));
        await using var db = Factory.ForSystem();
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Target == $"pending_action:{expiring}");
        Assert.Equal(("approval.expire", "system", "member-1"), (audit.Action, audit.ActorType, audit.OnBehalfOf));
        var afterExpiry = await Assert.ThrowsAsync<ApprovalException>(() => Service.DecideAsync(Acme, expiring, ApprovalVerdict.Approve, null, null, Admin(), CancellationToken.None));
        Assert.Equal(ApprovalException.AlreadyDecidedCode, afterExpiry.Code);
        Assert.Contains("expired", afterExpiry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandlerFailure_KeepsTheDecisionRecordsTheErrorAndTheJobHandsItOverAgainAfterThePause()
    {
        var id = await Service.RequestAsync(Request(Acme, Now), CancellationToken.None);
        _handler.FailNext = 2;

        var decided = await Service.DecideAsync(Acme, id, ApprovalVerdict.Approve, null, null, Admin(), CancellationToken.None);

        Assert.Equal(PendingActionStatus.Approved, decided.Status);
        Assert.Null(decided.HandledUtc);
        Assert.Contains("the run is not paused any more", decided.HandlerError, StringComparison.Ordinal);
        Assert.Equal(0, await Service.RetryHandoversAsync(CancellationToken.None));

        _clock.Advance(ApprovalService.RetryDelay(1) + TimeSpan.FromSeconds(1));
        Assert.Equal(1, await Service.RetryHandoversAsync(CancellationToken.None));
        var second = await RowAsync(id);
        Assert.Equal((2, (DateTime?)null), (second.HandlerAttempts, second.HandledUtc));

        _clock.Advance(ApprovalService.RetryDelay(2) + TimeSpan.FromSeconds(1));
        Assert.Equal(1, await Service.RetryHandoversAsync(CancellationToken.None));

        var handed = await RowAsync(id);
        Assert.Equal((3, PendingActionStatus.Approved, (string?)null), (handed.HandlerAttempts, handed.Status, handed.HandlerError));
        Assert.NotNull(handed.HandledUtc);
        Assert.Equal(3, _handler.Heard.Count);
        Assert.All(_handler.Heard, h => Assert.Equal((id, ApprovalOutcome.Approved), (h.ActionId, h.Outcome)));
        _clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(0, await Service.RetryHandoversAsync(CancellationToken.None));
    }

    [Fact]
    public async Task HandOver_ProcessDiedAfterTheDecision_JobHandsItOverOnceTheLeaseRunsOut()
    {
        var id = await Service.RequestAsync(Request(Acme, Now), CancellationToken.None);
        // A decision committed by a process that died before its hand-over: decided, leased, not handled.
        await using (var db = Factory.ForTenant(Acme))
        {
            await db.PendingActions.Where(a => a.Id == id).ExecuteUpdateAsync(s => s
                .SetProperty(a => a.Status, PendingActionStatus.Approved).SetProperty(a => a.DecidedById, "admin-1")
                .SetProperty(a => a.DecidedUtc, Now).SetProperty(a => a.HandlerAttempts, 1)
                .SetProperty(a => a.HandlerLeaseUntilUtc, Now + ApprovalService.HandlerLease));
        }

        Assert.Equal(0, await Service.RetryHandoversAsync(CancellationToken.None));
        _clock.Advance(ApprovalService.HandlerLease);
        var retries = await Task.WhenAll(Service.RetryHandoversAsync(CancellationToken.None), Service.RetryHandoversAsync(CancellationToken.None));

        Assert.Equal(1, retries.Sum());
        Assert.Single(_handler.Heard);
        Assert.NotNull((await RowAsync(id)).HandledUtc);
    }

    [Fact]
    public async Task Lists_PendingMineHistoryAndBadgeCount_FollowTheActorsRole()
    {
        var adminAction = await Service.RequestAsync(Request(Acme, Now, onBehalfOf: "member-1"), CancellationToken.None);
        await Service.RequestAsync(Request(Acme, Now, step: "step-2", approverRole: Roles.TenantMember, onBehalfOf: "member-2"), CancellationToken.None);
        var done = await Service.RequestAsync(Request(Acme, Now, step: "step-3", onBehalfOf: "member-2"), CancellationToken.None);
        await Service.DecideAsync(Acme, done, ApprovalVerdict.Reject, null, null, Admin(), CancellationToken.None);

        Assert.Equal(2, await Service.CountWaitingAsync(Acme, Admin(), CancellationToken.None));
        Assert.Equal(1, await Service.CountWaitingAsync(Acme, Member("member-1"), CancellationToken.None));
        Assert.Equal(0, await Service.CountWaitingAsync(Acme, new ApprovalActor(ApprovalActor.UserType, "support-1", null, null, false), CancellationToken.None));
        Assert.Equal(0, await Service.CountWaitingAsync(Globex, Admin(), CancellationToken.None));
        Assert.Equal(2, (await Service.PendingAsync(Acme, CancellationToken.None)).Count);
        Assert.Equal([done], (await Service.HistoryAsync(Acme, null, CancellationToken.None)).Select(h => h.Id));
        Assert.Equal([done], (await Service.HistoryAsync(Acme, "member-2", CancellationToken.None)).Select(h => h.Id));
        Assert.Empty(await Service.HistoryAsync(Acme, "member-1", CancellationToken.None));
        Assert.Contains(adminAction, (await Service.PendingAsync(Acme, CancellationToken.None)).Select(p => p.Id));
    }
}

public sealed class SqliteApprovalServiceTests : ApprovalServiceTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}

public sealed class PostgresApprovalServiceTests : ApprovalServiceTests
{
    private static readonly Microsoft.Extensions.Options.IOptions<ApprovalsOptions> Listening =
        Microsoft.Extensions.Options.Options.Create(new ApprovalsOptions { ListenAcrossInstances = true });

    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }

    [Fact]
    public async Task SourceNotices_PublishedOnOneInstance_ReachTheOtherInstanceOnTheSameListener()
    {
        var clock = TimeProvider.System;
        using var a = new PostgresApprovalNotices(Factory, clock, Listening, NullLogger<ApprovalNotices>.Instance);
        using var b = new PostgresApprovalNotices(Factory, clock, Listening, NullLogger<ApprovalNotices>.Instance);
        var heardByB = new TaskCompletionSource<(Guid, Guid)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tenantNoticesOnB = 0;
        b.Changed += t =>
        {
            if (t == Guid.Empty)
            {
                listening.TrySetResult();
            }
            else
            {
                Interlocked.Increment(ref tenantNoticesOnB);
            }
        };
        b.SourceChanged += (t, s) =>
        {
            if (s != Guid.Empty)
            {
                heardByB.TrySetResult((t, s));
            }
        };
        var heardByA = 0;
        a.SourceChanged += (_, s) =>
        {
            if (s != Guid.Empty)
            {
                Interlocked.Increment(ref heardByA);
            }
        };
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        await listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var run = Guid.NewGuid();

        a.PublishSource(Acme, run);

        Assert.Equal((Acme, run), await heardByB.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(a.ReachesEveryInstance);
        Assert.Equal(1, Volatile.Read(ref heardByA)); // At once on its own instance, not again from its own NOTIFY.
        Assert.Equal(0, Volatile.Read(ref tenantNoticesOnB)); // A run's notice is not an inbox's.
        await a.StopAsync(CancellationToken.None);
        await b.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Notices_PublishedOnOneInstance_ReachTheOtherInstanceThroughListen()
    {
        var clock = TimeProvider.System;
        using var a = new PostgresApprovalNotices(Factory, clock, Listening, NullLogger<ApprovalNotices>.Instance);
        using var b = new PostgresApprovalNotices(Factory, clock, Listening, NullLogger<ApprovalNotices>.Instance);
        var heardByB = new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Changed += t =>
        {
            if (t == Guid.Empty)
            {
                listening.TrySetResult(); // The listener is connected (it says "anything may have changed" then).
            }
            else
            {
                heardByB.TrySetResult(t);
            }
        };
        var heardByA = new List<Guid>();
        a.Changed += t => { lock (heardByA) { heardByA.Add(t); } };
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        await listening.Task.WaitAsync(TimeSpan.FromSeconds(30));

        a.Publish(Acme);

        Assert.Equal(Acme, await heardByB.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        lock (heardByA)
        {
            Assert.Equal(1, heardByA.Count(t => t == Acme)); // Raised at once on its own instance, and not again from its own NOTIFY.
        }

        await a.StopAsync(CancellationToken.None);
        await b.StopAsync(CancellationToken.None);
    }
}
