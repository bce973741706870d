using Keystone.Data;
using Keystone.Data.Agents;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Agents.Mcp;

/// <summary>
/// Adds a tenant's MCP server only while the tenant has fewer than its limit (<c>Agents:Mcp:MaxServersPerTenant</c>):
/// the count and the insert run in one transaction that no other registration of the tenant can interleave with, so
/// thirty registrations at once under a limit of three store three. How registrations are kept apart is the one thing
/// that differs per database (one implementation per mode).
/// </summary>
internal abstract class McpServerLimit(KeystoneDbFactory dbFactory)
{
    /// <summary>Stores <paramref name="row"/> and answers true, or stores nothing and answers false when the tenant is at
    /// <paramref name="limit"/>. A unique-name clash throws the <see cref="DbUpdateException"/> the caller maps to 409.</summary>
    public async Task<bool> TryAddAsync(McpServer row, int limit, CancellationToken ct)
        => await WriteConflicts.RetryAsync(async () =>
        {
            await using var db = dbFactory.ForTenant(row.TenantId);
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            await KeepOthersOutAsync(db, row.TenantId, ct);
            if (await db.McpServers.CountAsync(s => s.TenantId == row.TenantId, ct) >= limit)
            {
                return false;
            }

            db.McpServers.Add(row);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return true;
        }, attempts: 2);

    /// <summary>Makes the open transaction the only registration of the tenant until it ends.</summary>
    protected abstract Task KeepOthersOutAsync(KeystoneDbContext db, Guid tenantId, CancellationToken ct);
}

/// <summary>
/// SQLite: a transaction begins <c>IMMEDIATE</c> (Microsoft.Data.Sqlite's default), taking the database's one write lock,
/// so no other writer can count or insert until this one commits; nothing more to do.
/// </summary>
internal sealed class SqliteMcpServerLimit(KeystoneDbFactory dbFactory) : McpServerLimit(dbFactory)
{
    protected override Task KeepOthersOutAsync(KeystoneDbContext db, Guid tenantId, CancellationToken ct) => Task.CompletedTask;
}

/// <summary>
/// PostgreSQL: under READ COMMITTED two transactions would each count the same rows and both insert, so each first takes
/// a transaction-level advisory lock for the tenant (released at commit or rollback); other tenants are not held up.
/// The two-key form's key space is apart from the one-key locks (the demo seed's) and Hangfire takes none.
/// </summary>
internal sealed class PostgresMcpServerLimit(KeystoneDbFactory dbFactory) : McpServerLimit(dbFactory)
{
    /// <summary>The lock class ("MCPS" in ASCII) of the per-tenant registration lock.</summary>
    private const int LockClass = 0x4D435053;

    protected override async Task KeepOthersOutAsync(KeystoneDbContext db, Guid tenantId, CancellationToken ct)
    {
        var tenant = tenantId.ToString("D");
        await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({LockClass}, hashtext({tenant}))", ct);
    }
}
