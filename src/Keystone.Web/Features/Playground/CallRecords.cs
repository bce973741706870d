using Keystone.Data;
using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Playground;

/// <summary>What the gateway recorded for one call, read back for answers whose stream ended without an outcome.</summary>
internal sealed record RecordedCall(CallStatus Status, int InputTokens, int OutputTokens, int CachedInputTokens, long CostMicros,
    CostStatus CostStatus, int LatencyMs, int? TtftMs);

/// <summary>Reads recorded calls in the caller's tenant scope.</summary>
internal sealed class CallRecords(IDbContextFactory<KeystoneDbContext> dbFactory)
{
    public async Task<RecordedCall?> FindAsync(Guid callId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Calls.AsNoTracking()
            .Where(c => c.Id == callId)
            .Select(c => new RecordedCall(c.Status, c.InputTokens, c.OutputTokens, c.CachedInputTokens, c.CostMicros, c.CostStatus, c.LatencyMs, c.TtftMs))
            .FirstOrDefaultAsync(ct);
    }
}
