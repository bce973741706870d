using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Identity;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// Opens one trace in the caller's scope. A trace outside the scope does not exist for the caller (the page
/// answers 404, never 403, so ids cannot be probed). Platform users' looks into a tenant's trace are audited.
/// </summary>
internal sealed class TraceViewer(IDbContextFactory<KeystoneDbContext> dbFactory, TenantContext tenant, AuditLog audit)
{
    /// <summary>How many of the same end user's calls are shown either side.</summary>
    public const int NeighbourCount = 5;

    /// <summary>Most feedback entries shown on one trace (oldest first).</summary>
    public const int MaxFeedback = 50;

    /// <summary>
    /// The call (by call id, or by trace id for a pasted <c>X-Keystone-Trace-Id</c>), or null when not visible.
    /// <paramref name="writeAudit"/> false only when this very look was already audited (prerender, then interactive render).
    /// </summary>
    public async Task<TraceDetail?> OpenAsync(Guid id, bool writeAudit, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var call = await db.Calls.AsNoTracking().FirstOrDefaultAsync(c => c.Id == id, ct)
            ?? await db.Calls.AsNoTracking().Where(c => c.TraceId == id).OrderBy(c => c.CreatedUtc).FirstOrDefaultAsync(ct);
        if (call is null)
        {
            return null;
        }

        // Either storage form (a trace row's own payloads, or its pack on SQLite): TracePayloads reads both.
        var trace = await TracePayloads.ReadOneAsync(db, call.Id, raw: false, ct);
        var tenantName = await db.Tenants.Where(t => t.Id == call.TenantId).Select(t => t.Name).FirstOrDefaultAsync(ct);
        // People read a member's name, not the console user id the call carries (issue 21).
        var userName = call.UserId is { } userId
            ? await db.Users.Where(u => u.Id == userId).Select(u => u.DisplayName != "" ? u.DisplayName : u.Email).FirstOrDefaultAsync(ct)
            : null;
        var neighbours = await NeighboursAsync(db, call, ct);
        var replays = await TraceQueries.ToRows(db, db.Calls.AsNoTracking().Where(c => c.ReplayOfCallId == call.Id)
            .OrderByDescending(c => c.CreatedUtc).Take(20)).ToListAsync(ct);
        // Feedback is given per trace id (what the product sees in X-Keystone-Trace-Id); naming the tenant lets
        // the (tenant, trace) index answer for platform users too, whose scope spans every tenant.
        var feedback = await db.Feedback.AsNoTracking()
            .Where(f => f.TenantId == call.TenantId && f.TraceId == call.TraceId)
            .OrderBy(f => f.CreatedUtc).Take(MaxFeedback)
            .Select(f => new TraceFeedbackEntry(f.Score, f.Comment, f.EndUser,
                f.UserId == null ? null : db.Users.Where(u => u.Id == f.UserId).Select(u => u.DisplayName != "" ? u.DisplayName : u.Email).FirstOrDefault() ?? f.UserId,
                f.ApiKeyId != null, f.CreatedUtc))
            .ToListAsync(ct);

        // Prompt versions are platform data (not tenant-filtered): the number shows in the trace's prompt link.
        var promptVersion = call.PromptVersionId is { } pv
            ? await db.PromptVersions.AsNoTracking().Where(v => v.Id == pv).Select(v => (int?)v.Number).FirstOrDefaultAsync(ct)
            : null;
        // A semantic hit answered another wording: support sees which one (redacted, while its trace is kept).
        string? sourceQuestion = null;
        if (call is { CacheStatus: CacheStatus.Semantic, CacheSourceCallId: { } source })
        {
            var sourceTrace = await TracePayloads.ReadOneAsync(db, source, raw: false, ct);
            var sourceRequest = sourceTrace?.TenantId == call.TenantId ? sourceTrace.RequestJson : null;
            sourceQuestion = TracePayload.Parse(sourceRequest, null, null).Messages.LastOrDefault(m => m.Role == "user")?.Content;
        }

        if (writeAudit && tenant.IsPlatformUser)
        {
            await audit.WriteAsync("trace.view", $"trace:{call.Id}", call.TenantId, new { call.TraceId }, ct);
        }

        return new TraceDetail(call, tenantName,
            TracePayload.Parse(trace?.RequestJson, trace?.ResponseJson, trace?.AttemptsJson),
            trace is not null, trace?.HasRaw == true, trace?.RedactionCount ?? 0, trace?.RawPurgedUtc, neighbours, replays, feedback, promptVersion, sourceQuestion, userName);
    }

    /// <summary>
    /// The unredacted payload while raw retention keeps it: platform admins only, with a stated reason, audited.
    /// Null when the call is not visible or the raw payload is gone.
    /// </summary>
    public async Task<RawTrace?> OpenRawAsync(Guid callId, string reason, CancellationToken ct)
    {
        if (!tenant.User.IsInRole(Roles.PlatformAdmin))
        {
            throw new UnauthorizedAccessException("Raw trace payloads are for platform admins only.");
        }

        if (string.IsNullOrWhiteSpace(reason) || reason.Trim().Length < MinReasonLength)
        {
            throw new ArgumentException($"State why you need the raw payload (at least {MinReasonLength} characters).", nameof(reason));
        }

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var raw = await TracePayloads.ReadOneAsync(db, callId, raw: true, ct);
        if (raw is null || (raw.RawRequestJson is null && raw.RawResponseJson is null))
        {
            return null;
        }

        await audit.WriteAsync("trace.raw_view", $"trace:{callId}", raw.TenantId, new { reason = reason.Trim() }, ct);
        return new RawTrace(TracePayload.PrettyIfJson(raw.RawRequestJson), TracePayload.PrettyIfJson(raw.RawResponseJson));
    }

    /// <summary>Shortest accepted reason for raw access.</summary>
    public const int MinReasonLength = 10;

    private static async Task<IReadOnlyList<TraceRow>> NeighboursAsync(KeystoneDbContext db, LlmCall call, CancellationToken ct)
    {
        if (NeighbourQueries(db, call) is not { } q)
        {
            return [];
        }

        var before = await q.Before.ToListAsync(ct);
        var after = await q.After.ToListAsync(ct);
        return [.. after.OrderByDescending(r => r.CreatedUtc), .. before];
    }

    /// <summary>The same end user's (or console user's) calls just before and just after the call (also for EXPLAIN).</summary>
    internal static (IQueryable<TraceRow> Before, IQueryable<TraceRow> After)? NeighbourQueries(KeystoneDbContext db, LlmCall call)
    {
        if (call.EndUser is null && call.UserId is null)
        {
            return null;
        }

        var same = db.Calls.AsNoTracking().Where(c => c.TenantId == call.TenantId && c.Id != call.Id);
        same = call.EndUser is not null ? same.Where(c => c.EndUser == call.EndUser) : same.Where(c => c.UserId == call.UserId);
        return (TraceQueries.ToRows(db, same.Where(c => c.CreatedUtc <= call.CreatedUtc).OrderByDescending(c => c.CreatedUtc).Take(NeighbourCount)),
            TraceQueries.ToRows(db, same.Where(c => c.CreatedUtc > call.CreatedUtc).OrderBy(c => c.CreatedUtc).Take(NeighbourCount)));
    }
}
