using System.Text.Json;
using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Caching;

/// <summary>A stored first result: the answer and what was recorded for it.</summary>
internal sealed record IdempotentResult(CachedAnswer Answer, CallOutcome Outcome);

/// <summary>What a key holds when a call arrives with it.</summary>
internal enum IdempotencyClaim
{
    /// <summary>This call claimed the key and must run; its result (or its failure) settles the claim.</summary>
    Claimed,

    /// <summary>An earlier call with the key finished: its result is returned again.</summary>
    Completed,

    /// <summary>An earlier call with the key is still running (here or on another instance).</summary>
    InProgress,
}

/// <summary>
/// Idempotency keys (pipeline step 6): the first successful result of a key is returned again for
/// <see cref="GatewayOptions.IdempotencyTtl"/> without a provider call or a charge. Tenant-scoped.
/// A call first claims its key with an in-flight row (empty result), inserted atomically, so two concurrent
/// first requests cannot both reach the provider — across instances too, since the claim is a database row.
/// The second one is told the first is in progress (409, like Stripe). A failed call releases its claim so the
/// caller's retry runs; a claim left by a crashed process expires after <see cref="GatewayOptions.IdempotencyInFlightTtl"/>.
/// </summary>
internal sealed class IdempotencyStore(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
{
    public async Task<(IdempotencyClaim Claim, IdempotentResult? Result)> ClaimAsync(Guid tenantId, string key, Guid callId, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var claimExpires = now + options.CurrentValue.IdempotencyInFlightTtl;
        await using var db = dbFactory.ForTenant(tenantId);
        // An expired record (result or abandoned claim) is taken over; a live one is left as it is.
        var claimed = await db.Database.ExecuteSqlAsync($"""
            INSERT INTO idempotency_records (tenant_id, key, call_id, result_json, created_utc, expires_utc)
            VALUES ({tenantId}, {key}, {callId}, '', {now}, {claimExpires})
            ON CONFLICT (tenant_id, key) DO UPDATE SET call_id = excluded.call_id, result_json = excluded.result_json,
                created_utc = excluded.created_utc, expires_utc = excluded.expires_utc
            WHERE idempotency_records.expires_utc <= {now}
            """, ct);
        if (claimed > 0)
        {
            return (IdempotencyClaim.Claimed, null);
        }

        var json = await db.IdempotencyRecords.AsNoTracking()
            .Where(r => r.TenantId == tenantId && r.Key == key)
            .Select(r => r.ResultJson).FirstOrDefaultAsync(ct);
        return string.IsNullOrEmpty(json)
            ? (IdempotencyClaim.InProgress, null)
            : (IdempotencyClaim.Completed, JsonSerializer.Deserialize<IdempotentResult>(json, ExactCache.JsonOptions));
    }

    /// <summary>Replaces this call's claim by its result, kept for <see cref="GatewayOptions.IdempotencyTtl"/>.</summary>
    public async Task CompleteAsync(Guid tenantId, string key, IdempotentResult result, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var expires = now + options.CurrentValue.IdempotencyTtl;
        var json = JsonSerializer.Serialize(result, ExactCache.JsonOptions);
        await using var db = dbFactory.ForTenant(tenantId);
        await db.Database.ExecuteSqlAsync($"""
            UPDATE idempotency_records SET result_json = {json}, created_utc = {now}, expires_utc = {expires}
            WHERE tenant_id = {tenantId} AND key = {key} AND call_id = {result.Outcome.CallId} AND result_json = ''
            """, ct);
    }

    /// <summary>Drops this call's claim after it failed, so a retry with the same key runs.</summary>
    public async Task ReleaseAsync(Guid tenantId, string key, Guid callId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        await db.Database.ExecuteSqlAsync($"""
            DELETE FROM idempotency_records
            WHERE tenant_id = {tenantId} AND key = {key} AND call_id = {callId} AND result_json = ''
            """, ct);
    }
}
