using System.Security.Claims;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Audit;

namespace Keystone.Web.Platform;

/// <summary>Writes audit entries for the signed-in user or API key (or a named system actor).</summary>
internal sealed class AuditLog(KeystoneDbFactory dbFactory, TenantContext tenant, TimeProvider clock)
{
    /// <summary>Records that the current user did <paramref name="action"/> to <paramref name="target"/> in <paramref name="tenantId"/>.</summary>
    public Task WriteAsync(string action, string? target, Guid? tenantId, object? metadata = null, CancellationToken ct = default)
    {
        var user = tenant.User;
        // An admin API key acting through /api/v1 is named as itself, like the budgets endpoint names it.
        var keyId = user.FindFirstValue(KeystoneClaims.ApiKeyId);
        return WriteAsync(new AuditEntry
        {
            ActorType = keyId is null ? "user" : "api_key",
            ActorId = keyId ?? user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "anonymous",
            ActorName = user.FindFirstValue(ClaimTypes.Email) ?? user.Identity?.Name,
            TenantId = tenantId,
            Action = action,
            Target = target,
            MetadataJson = metadata is null ? null : JsonSerializer.Serialize(metadata),
        }, ct);
    }

    /// <summary>Records a prepared entry (system, agent and API-key actors).</summary>
    public async Task WriteAsync(AuditEntry entry, CancellationToken ct = default)
    {
        entry.CreatedUtc = clock.GetUtcNow().UtcDateTime;
        // The audit log is written across tenants on purpose: platform staff act on tenants they are not scoped to.
        await using var db = dbFactory.ForSystem();
        db.AuditLog.Add(entry);
        await db.SaveChangesAsync(ct);
    }
}
