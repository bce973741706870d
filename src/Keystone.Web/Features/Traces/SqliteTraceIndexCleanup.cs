using Keystone.Data;
using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// SQLite: the FTS5 table's triggers follow every delete; this catches what they could not (a renumbered rowid). The call
/// recorder's payloads are in packs (<see cref="LlmTracePack"/>): the raw part goes as soon as the pack's oldest trace is
/// past raw retention (never late; at most a batch's span early for its newer traces), the pack once its newest trace is
/// past redacted retention (its older trace rows were deleted on time, so no reader shows them meanwhile).
/// </summary>
internal sealed class SqliteTraceIndexCleanup : ITraceIndexCleanup
{
    public Task PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct) => SqliteFullTextIndex.PurgeOrphansAsync(db, ct);

    public async Task<int> PurgePacksAsync(KeystoneDbContext db, Guid? tenantId, IReadOnlyCollection<Guid> excluded, DateTime rawBefore,
        DateTime redactedBefore, DateTime now, CancellationToken ct)
    {
        IQueryable<LlmTracePack> packs = db.Set<LlmTracePack>();
        packs = tenantId is { } t ? packs.Where(p => p.TenantId == t) : packs.Where(p => !excluded.Contains(p.TenantId));
        await packs.Where(p => p.LastCreatedUtc < redactedBefore).ExecuteDeleteAsync(ct);
        var raw = packs.Where(p => p.RawPayloads != null && p.FirstCreatedUtc < rawBefore);
        var purged = await raw.SumAsync(p => p.RawCount, ct);
        await raw.ExecuteUpdateAsync(s => s.SetProperty(p => p.RawPayloads, (byte[]?)null).SetProperty(p => p.RawPurgedUtc, now), ct);
        return purged;
    }
}
