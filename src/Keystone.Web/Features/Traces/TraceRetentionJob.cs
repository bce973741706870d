using Keystone.Data;
using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Traces;

/// <summary>What one retention run did.</summary>
internal sealed record TraceRetentionResult(int RawPurged, int TracesDeleted);

/// <summary>
/// Daily: drops raw payloads after <c>Traces:RawDays</c>, deletes the redacted trace after
/// <c>Traces:RedactedDays</c> (per-tenant overrides win); call rows stay for the dashboards. Re-entrant:
/// each step only touches rows that still need it. The recorder's payloads are in packs (<see cref="LlmTracePack"/>, both
/// databases): the raw part goes as soon as the pack's oldest trace is past raw retention (never late; at most a batch's
/// span early for its newer traces), the pack once its newest trace is past redacted retention (its older trace rows were
/// deleted on time, so no reader shows them meanwhile).
/// </summary>
internal sealed class TraceRetentionJob(KeystoneDbFactory dbFactory, ITraceIndexCleanup index, IOptions<TracesOptions> options, TimeProvider clock,
    ILogger<TraceRetentionJob> log)
{
    public const string RecurringId = "traces:retention";

    /// <summary>03:17 UTC daily, away from the top of the hour when rollups run.</summary>
    public const string Cron = "17 3 * * *";

    public async Task<TraceRetentionResult> RunAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var defaults = options.Value;
        await using var db = dbFactory.ForSystem();
        var overrides = await db.TraceRetentionPolicies.AsNoTracking().ToListAsync(ct);
        var overridden = overrides.Select(o => o.TenantId).ToList();

        var rawPurged = 0;
        var deleted = 0;
        foreach (var o in overrides)
        {
            var (r, d) = await PurgeAsync(db, q => q.Where(t => t.TenantId == o.TenantId),
                now.AddDays(-(o.RawDays ?? defaults.RawDays)), now.AddDays(-(o.RedactedDays ?? defaults.RedactedDays)), now, ct);
            rawPurged += r;
            deleted += d;
            rawPurged += await PurgePacksAsync(db, o.TenantId, [], now.AddDays(-(o.RawDays ?? defaults.RawDays)),
                now.AddDays(-(o.RedactedDays ?? defaults.RedactedDays)), now, ct);
        }

        var (rawRest, deletedRest) = await PurgeAsync(db, q => q.Where(t => !overridden.Contains(t.TenantId)),
            now.AddDays(-defaults.RawDays), now.AddDays(-defaults.RedactedDays), now, ct);
        rawPurged += rawRest;
        deleted += deletedRest;
        rawPurged += await PurgePacksAsync(db, null, overridden, now.AddDays(-defaults.RawDays), now.AddDays(-defaults.RedactedDays), now, ct);

        await index.PurgeOrphansAsync(db, ct);

        log.LogInformation("Trace retention: raw payload dropped from {RawPurged} traces, {Deleted} traces deleted", rawPurged, deleted);
        return new TraceRetentionResult(rawPurged, deleted);
    }

    private static async Task<(int Raw, int Deleted)> PurgeAsync(KeystoneDbContext db, Func<IQueryable<LlmTrace>, IQueryable<LlmTrace>> scope,
        DateTime rawBefore, DateTime redactedBefore, DateTime now, CancellationToken ct)
    {
        var deleted = await scope(db.Traces).Where(t => t.CreatedUtc < redactedBefore).ExecuteDeleteAsync(ct);
        var raw = await scope(db.Traces)
            .Where(t => t.CreatedUtc < rawBefore && (t.RawRequestJson != null || t.RawResponseJson != null))
            .ExecuteUpdateAsync(s => s
                .SetProperty(t => t.RawRequestJson, (string?)null)
                .SetProperty(t => t.RawResponseJson, (string?)null)
                .SetProperty(t => t.RawPurgedUtc, now), ct);
        return (raw, deleted);
    }

    /// <summary>
    /// Retention of packed payloads for one tenant (<paramref name="tenantId"/>) or for every tenant but
    /// <paramref name="excluded"/>. Returns how many traces' raw payloads were dropped.
    /// </summary>
    private static async Task<int> PurgePacksAsync(KeystoneDbContext db, Guid? tenantId, IReadOnlyCollection<Guid> excluded, DateTime rawBefore,
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
