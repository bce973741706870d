using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Feedback;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Playground;

/// <summary>
/// Thumbs up / down on playground answers, stored as <see cref="CallFeedback"/> on the answer's trace: the same
/// rows <c>POST /api/v1/feedback</c> writes, so the trace page shows both. One rating per console user and
/// trace: rating again replaces it, and choosing the same thumb again takes it back.
/// </summary>
internal sealed class PlaygroundFeedback(IDbContextFactory<KeystoneDbContext> dbFactory, TenantContext tenant, TimeProvider time)
{
    /// <summary>
    /// Sets (or with null, clears) the caller's rating of an answer of one of their own conversations. False when
    /// the trace is not an answer of that conversation (nothing is stored).
    /// </summary>
    public async Task<bool> RateAsync(Guid conversationId, Guid traceId, int? score, CancellationToken ct)
    {
        if (score is not (null or 1 or -1))
        {
            throw new ArgumentOutOfRangeException(nameof(score), score, "A rating is +1 (up) or -1 (down).");
        }

        var tenantId = tenant.TenantId ?? throw new InvalidOperationException("The playground needs a tenant in scope.");
        var userId = tenant.UserId ?? throw new InvalidOperationException("The playground needs a signed-in user.");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // The answer must be in the caller's own conversation (the call row itself may still be on its way
        // through the recorder's queue, so it is not what proves the trace is theirs).
        var own = await db.ConversationMessages.AnyAsync(m => m.ConversationId == conversationId && m.TraceId == traceId
            && db.Conversations.Any(c => c.Id == conversationId && c.UserId == userId), ct);
        if (!own)
        {
            return false;
        }

        var existing = await db.Feedback.Where(f => f.TenantId == tenantId && f.TraceId == traceId && f.UserId == userId).ToListAsync(ct);
        db.Feedback.RemoveRange(existing);
        if (score is { } s)
        {
            db.Feedback.Add(new CallFeedback
            {
                Id = Guid.CreateVersion7(),
                TenantId = tenantId,
                TraceId = traceId,
                Score = s,
                UserId = userId,
                CreatedUtc = time.GetUtcNow().UtcDateTime,
            });
        }

        await db.SaveChangesAsync(ct);
        return true;
    }

    /// <summary>The caller's ratings of the given traces (those they rated).</summary>
    public async Task<IReadOnlyDictionary<Guid, int>> RatingsAsync(IReadOnlyCollection<Guid> traceIds, CancellationToken ct)
    {
        if (traceIds.Count == 0 || tenant.TenantId is not { } tenantId || tenant.UserId is not { } userId)
        {
            return new Dictionary<Guid, int>();
        }

        var ids = traceIds.Distinct().ToArray();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var rows = await db.Feedback.AsNoTracking()
            .Where(f => f.TenantId == tenantId && f.UserId == userId && ids.Contains(f.TraceId))
            .Select(f => new { f.TraceId, f.Score, f.CreatedUtc })
            .ToListAsync(ct);
        return rows.GroupBy(r => r.TraceId).ToDictionary(g => g.Key, g => g.OrderByDescending(r => r.CreatedUtc).First().Score);
    }
}
