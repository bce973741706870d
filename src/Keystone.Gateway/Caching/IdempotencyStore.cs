using System.Text.Json;
using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Caching;

/// <summary>A stored first result: the answer and what was recorded for it.</summary>
internal sealed record IdempotentResult(CachedAnswer Answer, CallOutcome Outcome);

/// <summary>
/// Idempotency keys (pipeline step 6): the first successful result of a key is returned again for
/// <see cref="GatewayOptions.IdempotencyTtl"/> without a provider call or a charge. Tenant-scoped.
/// </summary>
// REVIEW: two concurrent first requests with the same key both reach the provider (the first stored wins); add an
// in-flight marker row if callers retry faster than a call completes.
internal sealed class IdempotencyStore(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
{
    public async Task<IdempotentResult?> GetAsync(Guid tenantId, string key, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(tenantId);
        var json = await db.IdempotencyRecords.AsNoTracking()
            .Where(r => r.TenantId == tenantId && r.Key == key && r.ExpiresUtc > now)
            .Select(r => r.ResultJson).FirstOrDefaultAsync(ct);
        return json is null ? null : JsonSerializer.Deserialize<IdempotentResult>(json, ExactCache.JsonOptions);
    }

    public async Task PutAsync(Guid tenantId, string key, IdempotentResult result, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var expires = now + options.CurrentValue.IdempotencyTtl;
        var json = JsonSerializer.Serialize(result, ExactCache.JsonOptions);
        await using var db = dbFactory.ForTenant(tenantId);
        // An expired record is replaced; a live one keeps the first result.
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO idempotency_records (tenant_id, key, call_id, result_json, created_utc, expires_utc)
            VALUES ({tenantId}, {key}, {result.Outcome.CallId}, {json}, {now}, {expires})
            ON CONFLICT (tenant_id, key) DO UPDATE SET call_id = excluded.call_id, result_json = excluded.result_json,
                created_utc = excluded.created_utc, expires_utc = excluded.expires_utc
            WHERE idempotency_records.expires_utc <= {now}
            """, ct);
    }
}
