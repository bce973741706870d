using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Approvals;
using Keystone.Data.Audit;
using Keystone.Data.Identity;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Approvals;

/// <summary>
/// Stores pending actions (<see cref="IApprovalService"/>), decides them and hands each decision to the requester's
/// <see cref="IApprovalDecisionHandler"/>s (docs/decisions/0035-approvals.md):
/// <list type="bullet">
/// <item>A decision is one conditional update (<c>WHERE status = 'pending' AND expires_utc &gt; now</c>) in a
/// transaction with its audit entry, so of two people deciding at once exactly one changes the row; the other is told
/// who decided first. Expiry (the job) is the same statement with the opposite time test.</item>
/// <item>Handlers run after the commit. A failing handler never undoes the decision: the failure is stored on the row
/// (shown in the inbox's history) and the expiry job hands it over again with a growing pause, up to
/// <see cref="MaxHandlerAttempts"/> tries. A lease taken in the deciding statement keeps a retry from running beside
/// the first try. So a handler hears a decision once when it succeeds, and again only after it failed (or its process
/// died mid-way): handlers must be idempotent per <see cref="ApprovalDecision.ActionId"/>.</item>
/// </list>
/// </summary>
internal sealed partial class ApprovalService(
    KeystoneDbFactory dbFactory,
    TimeProvider clock,
    ApprovalNotices notices,
    IServiceScopeFactory scopes,
    ILogger<ApprovalService> log) : IApprovalService
{
    /// <summary>How long one hand-over may take before a retry may start another.</summary>
    public static readonly TimeSpan HandlerLease = TimeSpan.FromMinutes(5);

    /// <summary>Hand-overs tried per decision (the first included); after the last the failure stays on the row, audited.</summary>
    public const int MaxHandlerAttempts = 8;

    /// <summary>The most rows one list answers (the inbox of one tenant; older decisions are in the audit log).</summary>
    public const int ListLimit = 200;

    /// <summary>The pause before hand-over try <paramref name="attempts"/> + 1: 1, 2, 4 … minutes, at most an hour.</summary>
    public static TimeSpan RetryDelay(int attempts) => TimeSpan.FromMinutes(Math.Min(60, 1 << Math.Clamp(attempts - 1, 0, 6)));

    /// <inheritdoc />
    public async Task<Guid> RequestAsync(PendingActionRequest request, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var row = ToRow(request, now);
        var (id, created) = await WriteConflicts.RetryAsync(async () =>
        {
            await using var db = dbFactory.ForTenant(request.TenantId);
            var existing = await db.PendingActions.AsNoTracking()
                .Where(a => a.SourceKind == row.SourceKind && a.SourceId == row.SourceId && a.SourceStepKey == row.SourceStepKey)
                .Select(a => (Guid?)a.Id).FirstOrDefaultAsync(cancellationToken);
            if (existing is { } found)
            {
                return (found, false);
            }

            // Two requests for one step racing here: the unique index refuses the second, whose retry finds the first.
            db.PendingActions.Add(row);
            await db.SaveChangesAsync(cancellationToken);
            return (row.Id, true);
        });

        if (created)
        {
            Requested(row.Tool, row.TenantId, row.Id, row.SourceKind);
            notices.Publish(request.TenantId);
        }

        return id;
    }

    /// <summary>
    /// Approves (with an optional edited input, where the action allows it) or rejects a pending action, with an optional
    /// comment, audited; then hands the decision to the requester. Throws <see cref="ApprovalException"/> when the action
    /// is unknown, already decided (naming who decided), expired, not the actor's to decide, or the edit is not JSON.
    /// </summary>
    public async Task<PendingActionView> DecideAsync(Guid tenantId, Guid actionId, ApprovalVerdict verdict, string? editedInputJson,
        string? comment, ApprovalActor actor, CancellationToken ct)
    {
        comment = string.IsNullOrWhiteSpace(comment) ? null : comment.Trim();
        if (comment?.Length > PendingAction.CommentMaxLength)
        {
            throw ApprovalException.Invalid("comment", $"The comment is longer than {PendingAction.CommentMaxLength:N0} characters.");
        }

        string? edited = null;
        if (!string.IsNullOrWhiteSpace(editedInputJson))
        {
            if (verdict == ApprovalVerdict.Reject)
            {
                throw ApprovalException.Invalid("input", "An edited input goes with an approval; a rejection runs nothing.");
            }

            edited = NormalizedJson(editedInputJson) ?? throw ApprovalException.Invalid("input",
                "The edited input is not valid JSON. Fix it, or approve the input as it was proposed.");
        }

        var row = await WriteConflicts.RetryAsync(async () =>
        {
            await using var db = dbFactory.ForTenant(tenantId);
            var current = await db.PendingActions.AsNoTracking().FirstOrDefaultAsync(a => a.Id == actionId, ct)
                ?? throw ApprovalException.NotFound();
            if (current.Status != PendingActionStatus.Pending)
            {
                throw AlreadyDecided(current);
            }

            if (!MayDecide(actor, current, verdict))
            {
                throw ApprovalException.NotApprover(current.ApproverRole);
            }

            if (edited is not null && !current.InputEditable)
            {
                throw ApprovalException.Invalid("input", "This action's input cannot be edited: approve or reject it as it is.");
            }

            var finalEdit = edited is not null && edited != NormalizedJson(current.InputJson) ? edited : null;
            var now = clock.GetUtcNow().UtcDateTime;
            if (current.ExpiresUtc <= now)
            {
                throw Expired(current);
            }

            var status = verdict == ApprovalVerdict.Approve ? PendingActionStatus.Approved : PendingActionStatus.Rejected;
            var decidedBy = actor.Type == ApprovalActor.ApiKeyType ? "api_key:" + actor.Id : actor.Id;
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            // The one statement that decides: a concurrent decider's update waits for this row and then matches nothing.
            var changed = await db.PendingActions
                .Where(a => a.Id == actionId && a.Status == PendingActionStatus.Pending && a.ExpiresUtc > now)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(a => a.Status, status)
                    .SetProperty(a => a.DecidedById, decidedBy)
                    .SetProperty(a => a.DecidedByName, actor.Name)
                    .SetProperty(a => a.Comment, comment)
                    .SetProperty(a => a.EditedInputJson, finalEdit)
                    .SetProperty(a => a.DecidedUtc, now)
                    .SetProperty(a => a.HandlerAttempts, 1)
                    .SetProperty(a => a.HandlerLeaseUntilUtc, now + HandlerLease), ct);
            if (changed == 0)
            {
                await tx.RollbackAsync(ct);
                var winner = await db.PendingActions.AsNoTracking().FirstAsync(a => a.Id == actionId, ct);
                throw winner.Status == PendingActionStatus.Pending ? Expired(winner) : AlreadyDecided(winner);
            }

            db.AuditLog.Add(Audit(current, verdict == ApprovalVerdict.Approve ? "approval.approve" : "approval.reject", now,
                actor.Type, actor.Id, actor.Name, new
                {
                    tool = current.Tool,
                    source = current.SourceKind,
                    sourceId = current.SourceId,
                    step = current.SourceStepKey,
                    edited = finalEdit is not null,
                    amountMicros = current.AmountMicros,
                    comment = comment is null ? null : comment.Length > 200 ? comment[..200] + "…" : comment,
                    ownRequest = actor.Type == ApprovalActor.UserType && actor.Id == current.OnBehalfOfUserId,
                }));
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return await db.PendingActions.AsNoTracking().FirstAsync(a => a.Id == actionId, ct);
        });

        Decided(row.Status, row.Tool, row.TenantId, row.Id);
        notices.Publish(tenantId);
        // The decision is stored: the hand-over runs to its end even if the decider's request goes away.
        await DeliverAsync(row, CancellationToken.None);
        return await GetAsync(tenantId, actionId, CancellationToken.None) ?? throw ApprovalException.NotFound();
    }

    /// <summary>Who may decide: the approver role or above in the tenant (platform admins inside the tenant they switched
    /// into); the member it acts for may always withdraw (reject) their own request, and approve it only with the role.</summary>
    public static bool MayDecide(ApprovalActor actor, PendingAction action, ApprovalVerdict verdict)
        => MayApprove(actor, action.ApproverRole)
            || (verdict == ApprovalVerdict.Reject && actor.Type == ApprovalActor.UserType && actor.Id == action.OnBehalfOfUserId);

    /// <summary>Whether the actor holds the approver role (or more).</summary>
    public static bool MayApprove(ApprovalActor actor, string approverRole)
        => actor.IsPlatformAdmin
            || actor.TenantRole == Roles.TenantAdmin
            || (actor.TenantRole == Roles.TenantMember && approverRole == Roles.TenantMember);

    /// <inheritdoc />
    public async Task<SourceCancellation> CancelWithSourceAsync(Guid tenantId, string sourceKind, Guid sourceId, SourceCanceller by,
        Func<KeystoneDbContext, CancellationToken, Task<bool>> endSource, CancellationToken cancellationToken)
    {
        var ct = cancellationToken;
        var decidedBy = by.Type == ApprovalActor.ApiKeyType ? "api_key:" + by.Id : by.Id;
        var outcome = await WriteConflicts.RetryAsync(async () =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            await using var db = dbFactory.ForTenant(tenantId);
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            // The statements that close, one per action: an approve racing one waits for its row and then matches nothing
            // (it is told the run was cancelled); had the approve come first, this matches nothing and the check below sees it.
            var pendingIds = await db.PendingActions.AsNoTracking()
                .Where(a => a.SourceKind == sourceKind && a.SourceId == sourceId && a.Status == PendingActionStatus.Pending)
                .Select(a => a.Id).ToListAsync(ct);
            var closed = new List<PendingAction>();
            foreach (var id in pendingIds)
            {
                var changed = await db.PendingActions
                    .Where(a => a.Id == id && a.Status == PendingActionStatus.Pending)
                    .ExecuteUpdateAsync(s => s
                        .SetProperty(a => a.Status, PendingActionStatus.Cancelled)
                        .SetProperty(a => a.DecidedById, decidedBy)
                        .SetProperty(a => a.DecidedByName, by.Name)
                        .SetProperty(a => a.DecidedUtc, now)
                        // Nothing to hand over: the requester closed it itself (the retry job looks for HandledUtc == null).
                        .SetProperty(a => a.HandledUtc, now), ct);
                if (changed == 1)
                {
                    closed.Add(await db.PendingActions.AsNoTracking().FirstAsync(a => a.Id == id, ct));
                }
            }

            // An approval whose hand-over is under way (decided, not yet handed over, no failure yet, its lease running)
            // is about to resume the source: cancelling now would tell the approver "approved" and the canceller
            // "cancelled" for one action that never runs. The approval keeps it; the canceller is told so and may cancel
            // again, which then stops the resumed run at its next step. A hand-over that failed or whose process died
            // no longer holds the source: the cancel goes ahead (the retry then finds nothing waiting).
            var approval = await db.PendingActions.AsNoTracking()
                .Where(a => a.SourceKind == sourceKind && a.SourceId == sourceId && a.Status == PendingActionStatus.Approved
                    && a.HandledUtc == null && a.HandlerError == null && a.HandlerLeaseUntilUtc > now)
                .OrderByDescending(a => a.DecidedUtc).FirstOrDefaultAsync(ct);
            if (approval is not null)
            {
                await tx.RollbackAsync(ct);
                return new SourceCancellation(SourceCancellationResult.ApprovalWon, 0,
                    $"{approval.DecidedByName ?? approval.DecidedById ?? "Someone"} approved '{approval.Tool}' at {Utc(approval.DecidedUtc ?? now):yyyy-MM-dd HH:mm:ss} UTC, "
                    + "a moment before this cancel, and the run is resuming to carry it out. Cancel again to stop the run right after it.");
            }

            if (!await endSource(db, ct))
            {
                await tx.RollbackAsync(ct);
                return new SourceCancellation(SourceCancellationResult.SourceNotEnded, 0);
            }

            foreach (var row in closed)
            {
                db.AuditLog.Add(Audit(row, "approval.cancel", now, by.Type, by.Id, by.Name,
                    new { tool = row.Tool, source = row.SourceKind, sourceId = row.SourceId, step = row.SourceStepKey, reason = "source_cancelled" }));
            }

            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return new SourceCancellation(SourceCancellationResult.Cancelled, closed.Count);
        });

        if (outcome.ActionsClosed > 0)
        {
            CancelledWithSource(outcome.ActionsClosed, sourceKind, sourceId, tenantId);
            notices.Publish(tenantId);
        }

        return outcome;
    }

    /// <summary>Rejects every pending action past its expiry (outcome <see cref="ApprovalOutcome.Expired"/>), audited, and
    /// hands each to its requester. Re-entrant: a row decided meanwhile is left as its decider left it.</summary>
    public async Task<int> ExpireDueAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        List<(Guid Id, Guid TenantId)> due;
        await using (var db = dbFactory.ForSystem())
        {
            due = (await db.PendingActions.AsNoTracking()
                    .Where(a => a.Status == PendingActionStatus.Pending && a.ExpiresUtc <= now)
                    .OrderBy(a => a.ExpiresUtc).Take(500)
                    .Select(a => new { a.Id, a.TenantId }).ToListAsync(ct))
                .Select(a => (a.Id, a.TenantId)).ToList();
        }

        var expired = 0;
        foreach (var (id, tenantId) in due)
        {
            var row = await WriteConflicts.RetryAsync(() => ExpireOneAsync(tenantId, id, now, ct));
            if (row is null)
            {
                continue;
            }

            expired++;
            Decided(row.Status, row.Tool, row.TenantId, row.Id);
            notices.Publish(tenantId);
            await DeliverAsync(row, ct);
        }

        return expired;
    }

    private async Task<PendingAction?> ExpireOneAsync(Guid tenantId, Guid id, DateTime now, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var changed = await db.PendingActions
            .Where(a => a.Id == id && a.Status == PendingActionStatus.Pending && a.ExpiresUtc <= now)
            .ExecuteUpdateAsync(s => s
                .SetProperty(a => a.Status, PendingActionStatus.Expired)
                .SetProperty(a => a.DecidedUtc, now)
                .SetProperty(a => a.HandlerAttempts, 1)
                .SetProperty(a => a.HandlerLeaseUntilUtc, now + HandlerLease), ct);
        if (changed == 0)
        {
            await tx.RollbackAsync(ct);
            return null;
        }

        var row = await db.PendingActions.AsNoTracking().FirstAsync(a => a.Id == id, ct);
        db.AuditLog.Add(Audit(row, "approval.expire", now, ApprovalActor.SystemType, ApprovalExpiryJob.RecurringId, "Approval expiry",
            new { tool = row.Tool, source = row.SourceKind, sourceId = row.SourceId, step = row.SourceStepKey, expiredAtUtc = row.ExpiresUtc }));
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return row;
    }

    /// <summary>Hands over again every decision whose hand-over failed (or whose process died mid-way) and whose pause is
    /// over. Each is claimed first by a conditional update, so two instances' jobs never hand one over together.</summary>
    public async Task<int> RetryHandoversAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        List<(Guid Id, Guid TenantId)> due;
        await using (var db = dbFactory.ForSystem())
        {
            due = (await db.PendingActions.AsNoTracking()
                    .Where(a => a.HandledUtc == null && a.Status != PendingActionStatus.Pending && a.HandlerAttempts < MaxHandlerAttempts
                        && (a.HandlerLeaseUntilUtc == null || a.HandlerLeaseUntilUtc <= now))
                    .OrderBy(a => a.DecidedUtc).Take(200)
                    .Select(a => new { a.Id, a.TenantId }).ToListAsync(ct))
                .Select(a => (a.Id, a.TenantId)).ToList();
        }

        var handed = 0;
        foreach (var (id, tenantId) in due)
        {
            PendingAction? row;
            await using (var db = dbFactory.ForTenant(tenantId))
            {
                var claimed = await db.PendingActions
                    .Where(a => a.Id == id && a.HandledUtc == null && a.Status != PendingActionStatus.Pending && a.HandlerAttempts < MaxHandlerAttempts
                        && (a.HandlerLeaseUntilUtc == null || a.HandlerLeaseUntilUtc <= now))
                    .ExecuteUpdateAsync(s => s
                        .SetProperty(a => a.HandlerAttempts, a => a.HandlerAttempts + 1)
                        .SetProperty(a => a.HandlerLeaseUntilUtc, now + HandlerLease), ct);
                row = claimed == 1 ? await db.PendingActions.AsNoTracking().FirstAsync(a => a.Id == id, ct) : null;
            }

            if (row is not null)
            {
                handed++;
                await DeliverAsync(row, ct);
            }
        }

        return handed;
    }

    /// <summary>Calls every handler of the row's source kind, then records the outcome on the row (never throws).</summary>
    private async Task DeliverAsync(PendingAction row, CancellationToken ct)
    {
        var decision = new ApprovalDecision(row.Id, row.TenantId, row.SourceKind, row.SourceId, row.SourceStepKey, OutcomeOf(row.Status),
            row.EditedInputJson ?? row.InputJson, row.DecidedById, row.Comment);
        string? error = null;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var handlers = scope.ServiceProvider.GetServices<IApprovalDecisionHandler>()
                .Where(h => string.Equals(h.SourceKind, row.SourceKind, StringComparison.Ordinal)).ToList();
            if (handlers.Count == 0)
            {
                NoHandler(row.SourceKind, row.Id);
            }

            foreach (var handler in handlers)
            {
                await handler.OnDecidedAsync(decision, ct);
            }
        }
        catch (Exception ex)
        {
            error = $"{ex.GetType().Name}: {ex.Message}";
            if (error.Length > PendingAction.HandlerErrorMaxLength)
            {
                error = error[..(PendingAction.HandlerErrorMaxLength - 1)] + "…";
            }

            HandoverFailed(ex, row.Id, row.SourceKind, row.HandlerAttempts);
        }

        try
        {
            var now = clock.GetUtcNow().UtcDateTime;
            await using var db = dbFactory.ForTenant(row.TenantId);
            if (error is null)
            {
                await db.PendingActions.Where(a => a.Id == row.Id && a.HandledUtc == null)
                    .ExecuteUpdateAsync(s => s
                        .SetProperty(a => a.HandledUtc, now)
                        .SetProperty(a => a.HandlerError, (string?)null)
                        .SetProperty(a => a.HandlerLeaseUntilUtc, (DateTime?)null), CancellationToken.None);
            }
            else
            {
                var last = row.HandlerAttempts >= MaxHandlerAttempts;
                await db.PendingActions.Where(a => a.Id == row.Id && a.HandledUtc == null)
                    .ExecuteUpdateAsync(s => s
                        .SetProperty(a => a.HandlerError, error)
                        .SetProperty(a => a.HandlerLeaseUntilUtc, last ? null : now + RetryDelay(row.HandlerAttempts)), CancellationToken.None);
                if (last)
                {
                    db.AuditLog.Add(Audit(row, "approval.handover.failed", now, ApprovalActor.SystemType, ApprovalExpiryJob.RecurringId, "Approval hand-over",
                        new { tool = row.Tool, source = row.SourceKind, sourceId = row.SourceId, attempts = row.HandlerAttempts, error }));
                    await db.SaveChangesAsync(CancellationToken.None);
                }
            }
        }
        catch (Exception ex)
        {
            // The lease runs out and the job hands the decision over again: the handler must be idempotent (it is told so).
            RecordFailed(ex, row.Id);
        }

        notices.Publish(row.TenantId);
    }

    /// <summary>One action of the tenant, or null.</summary>
    public async Task<PendingActionView?> GetAsync(Guid tenantId, Guid id, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var rows = await db.PendingActions.AsNoTracking().Where(a => a.Id == id).ToListAsync(ct);
        var views = await ViewsAsync(db, rows, ct);
        return views.Count > 0 ? views[0] : null;
    }

    /// <summary>The tenant's pending actions that can still be decided, oldest expiry first.</summary>
    public async Task<IReadOnlyList<PendingActionView>> PendingAsync(Guid tenantId, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(tenantId);
        var rows = await db.PendingActions.AsNoTracking()
            .Where(a => a.Status == PendingActionStatus.Pending && a.ExpiresUtc > now)
            .OrderBy(a => a.ExpiresUtc).ThenBy(a => a.CreatedUtc).Take(ListLimit).ToListAsync(ct);
        return await ViewsAsync(db, rows, ct);
    }

    /// <summary>The tenant's decided actions, newest first; only those <paramref name="involvingUserId"/> asked for or
    /// decided when given.</summary>
    public async Task<IReadOnlyList<PendingActionView>> HistoryAsync(Guid tenantId, string? involvingUserId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var query = db.PendingActions.AsNoTracking().Where(a => a.Status != PendingActionStatus.Pending);
        if (involvingUserId is not null)
        {
            query = query.Where(a => a.OnBehalfOfUserId == involvingUserId || a.DecidedById == involvingUserId);
        }

        var rows = await query.OrderByDescending(a => a.DecidedUtc).Take(ListLimit).ToListAsync(ct);
        return await ViewsAsync(db, rows, ct);
    }

    /// <summary>How many of the tenant's pending actions the actor may approve (the navigation badge).</summary>
    public async Task<int> CountWaitingAsync(Guid tenantId, ApprovalActor actor, CancellationToken ct)
    {
        if (!MayApprove(actor, Roles.TenantMember))
        {
            return 0;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var all = MayApprove(actor, Roles.TenantAdmin);
        await using var db = dbFactory.ForTenant(tenantId);
        return await db.PendingActions.CountAsync(a => a.Status == PendingActionStatus.Pending && a.ExpiresUtc > now
            && (all || a.ApproverRole == Roles.TenantMember), ct);
    }

    private static async Task<IReadOnlyList<PendingActionView>> ViewsAsync(KeystoneDbContext db, List<PendingAction> rows, CancellationToken ct)
    {
        var userIds = rows.Select(r => r.OnBehalfOfUserId).Distinct().ToList();
        var names = await db.Users.AsNoTracking().Where(u => userIds.Contains(u.Id))
            .Select(u => new { u.Id, u.DisplayName, u.Email }).ToDictionaryAsync(u => u.Id, ct);
        return rows.Select(r => new PendingActionView(
            r.Id, r.TenantId, r.Tool, r.InputJson, r.EditedInputJson, r.Rationale, r.Summary, r.AmountMicros, r.OnBehalfOfUserId,
            names.TryGetValue(r.OnBehalfOfUserId, out var u) ? (string.IsNullOrWhiteSpace(u.DisplayName) ? u.Email : $"{u.DisplayName} ({u.Email})") : null,
            r.ApproverRole, r.InputEditable, r.SourceKind, r.SourceId, r.SourceStepKey, r.Status, r.DecidedById, r.DecidedByName, r.Comment,
            Utc(r.CreatedUtc), Utc(r.ExpiresUtc), Utc(r.DecidedUtc), Utc(r.HandledUtc), r.HandlerAttempts, r.HandlerError)).ToList();
    }

    private static DateTime Utc(DateTime t) => DateTime.SpecifyKind(t, DateTimeKind.Utc);

    private static DateTime? Utc(DateTime? t) => t is { } v ? Utc(v) : null;

    private static ApprovalOutcome OutcomeOf(string status) => status switch
    {
        PendingActionStatus.Approved => ApprovalOutcome.Approved,
        PendingActionStatus.Rejected => ApprovalOutcome.Rejected,
        _ => ApprovalOutcome.Expired,
    };

    private static ApprovalException AlreadyDecided(PendingAction row) => row.Status == PendingActionStatus.Cancelled
        ? new(409, ApprovalException.CancelledCode,
            $"The run that asked for this was cancelled by {row.DecidedByName ?? row.DecidedById ?? "someone"} at {Utc(row.DecidedUtc ?? row.CreatedUtc):yyyy-MM-dd HH:mm:ss} UTC: nothing will run, and it can no longer be decided.")
        : new(409, ApprovalException.AlreadyDecidedCode, row.Status switch
    {
        PendingActionStatus.Expired => $"Already decided: it expired at {Utc(row.ExpiresUtc):yyyy-MM-dd HH:mm} UTC before anyone decided.",
        _ => $"Already {row.Status} by {row.DecidedByName ?? row.DecidedById ?? "someone else"} at {Utc(row.DecidedUtc ?? row.CreatedUtc):yyyy-MM-dd HH:mm:ss} UTC.",
    });

    private static ApprovalException Expired(PendingAction row) => new(409, ApprovalException.ExpiredCode,
        $"It expired at {Utc(row.ExpiresUtc):yyyy-MM-dd HH:mm} UTC: it can no longer be approved, and will be rejected as expired.");

    private static AuditEntry Audit(PendingAction row, string action, DateTime now, string actorType, string actorId, string? actorName, object metadata) => new()
    {
        ActorType = actorType,
        ActorId = actorId,
        ActorName = actorName,
        OnBehalfOf = row.OnBehalfOfUserId,
        TenantId = row.TenantId,
        Action = action,
        Target = $"pending_action:{row.Id}",
        MetadataJson = JsonSerializer.Serialize(metadata),
        CreatedUtc = now,
    };

    /// <summary>The JSON text re-serialized without insignificant whitespace, or null when it is not JSON.</summary>
    internal static string? NormalizedJson(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 64 });
            return JsonSerializer.Serialize(doc.RootElement);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static PendingAction ToRow(PendingActionRequest r, DateTime now)
    {
        Require(r.TenantId != Guid.Empty, "TenantId is required.");
        Require(!string.IsNullOrWhiteSpace(r.SourceKind) && r.SourceKind.Length <= PendingAction.SourceKindMaxLength, "SourceKind is required (at most 64 characters).");
        Require(!string.IsNullOrWhiteSpace(r.SourceStepKey) && r.SourceStepKey.Length <= PendingAction.SourceStepKeyMaxLength, "SourceStepKey is required (at most 200 characters).");
        Require(!string.IsNullOrWhiteSpace(r.Tool) && r.Tool.Length <= PendingAction.ToolMaxLength, "Tool is required (at most 128 characters).");
        Require(r.InputJson.Length <= PendingAction.InputMaxLength && NormalizedJson(r.InputJson) is not null, "InputJson must be a JSON document of at most 64 KiB.");
        Require(!string.IsNullOrWhiteSpace(r.OnBehalfOfUserId) && r.OnBehalfOfUserId.Length <= PendingAction.UserIdMaxLength, "OnBehalfOfUserId is required.");
        Require(r.ApproverRole is Roles.TenantAdmin or Roles.TenantMember, "ApproverRole must be TenantAdmin or TenantMember.");
        Require(r.AmountMicroUsd is null or >= 0, "AmountMicroUsd cannot be negative.");
        Require(!string.IsNullOrWhiteSpace(r.Summary), "Summary is required.");
        Require(r.ExpiresUtc.UtcDateTime > now, "ExpiresUtc must be in the future.");
        return new PendingAction
        {
            Id = Guid.NewGuid(),
            TenantId = r.TenantId,
            Tool = r.Tool,
            InputJson = r.InputJson,
            Rationale = Clip(r.Rationale, PendingAction.RationaleMaxLength),
            Summary = Clip(r.Summary.Trim(), PendingAction.SummaryMaxLength)!,
            AmountMicros = r.AmountMicroUsd,
            OnBehalfOfUserId = r.OnBehalfOfUserId,
            ApproverRole = r.ApproverRole,
            InputEditable = r.InputEditable,
            SourceKind = r.SourceKind,
            SourceId = r.SourceId,
            SourceStepKey = r.SourceStepKey,
            Status = PendingActionStatus.Pending,
            CreatedUtc = now,
            ExpiresUtc = r.ExpiresUtc.UtcDateTime,
        };
    }

    // Model text can run long: keep the start and say it was cut rather than refuse the request.
    private static string? Clip(string? text, int max) => text is null || text.Length <= max ? text : text[..(max - 14)] + " … (truncated)";

    private static void Require(bool ok, string message)
    {
        if (!ok)
        {
            throw new ArgumentException(message);
        }
    }

    [LoggerMessage(EventId = 2510, Level = LogLevel.Information, Message = "Approval requested for {Tool} in tenant {TenantId}: action {ActionId} from {SourceKind}")]
    private partial void Requested(string tool, Guid tenantId, Guid actionId, string sourceKind);

    [LoggerMessage(EventId = 2511, Level = LogLevel.Information, Message = "Pending action {ActionId} ({Tool}, tenant {TenantId}) {Status}")]
    private partial void Decided(string status, string tool, Guid tenantId, Guid actionId);

    [LoggerMessage(EventId = 2515, Level = LogLevel.Information, Message = "{Count} pending action(s) of {SourceKind} {SourceId} (tenant {TenantId}) cancelled with their source")]
    private partial void CancelledWithSource(int count, string sourceKind, Guid sourceId, Guid tenantId);

    [LoggerMessage(EventId = 2512, Level = LogLevel.Warning, Message = "No approval handler is registered for source kind {SourceKind}; the decision on action {ActionId} is stored and handed to nobody")]
    private partial void NoHandler(string sourceKind, Guid actionId);

    [LoggerMessage(EventId = 2513, Level = LogLevel.Warning, Message = "Handing the decision on action {ActionId} to {SourceKind} failed (try {Attempt}); it is stored and will be handed over again")]
    private partial void HandoverFailed(Exception ex, Guid actionId, string sourceKind, int attempt);

    [LoggerMessage(EventId = 2514, Level = LogLevel.Error, Message = "Recording the hand-over of action {ActionId} failed; the job hands it over again after its lease")]
    private partial void RecordFailed(Exception ex, Guid actionId);
}
