using System.Text.RegularExpressions;
using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Agents.Mcp;

/// <summary>What a tenant admin enters to register a server. <paramref name="Authorization"/> is the header's whole value (e.g. <c>Bearer …</c>).</summary>
internal sealed record McpServerInput(string Name, string Url, string? Authorization);

/// <summary>A tool of a server as the console and the API show it.</summary>
internal sealed record McpToolView(string Name, string RemoteName, string? Description, bool ReadOnly);

/// <summary>A registered server: never its credential, only the credential's last four characters.</summary>
internal sealed record McpServerView(Guid Id, string Name, string Url, string? AuthHint, string State, string? LastError, DateTime? CheckedUtc,
    IReadOnlyList<McpToolView> Tools, DateTime CreatedUtc);

/// <summary>
/// A tenant's MCP servers: register (URL checked against the SSRF rules, credential encrypted), list the tools again,
/// remove. Every change is audited without the credential. The tenant always comes from the caller's context.
/// </summary>
internal sealed partial class McpServerCatalog(
    KeystoneDbFactory dbFactory,
    McpConnector connector,
    McpToolSource source,
    McpServerLimit limit,
    AuditLog audit,
    IOptions<McpOptions> options,
    TimeProvider clock)
{
    public const int MaxAuthorizationLength = 4_000;

    [GeneratedRegex("^[a-z][a-z0-9-]{0,23}$", RegexOptions.CultureInvariant)]
    private static partial Regex NameRule();

    public async Task<IReadOnlyList<McpServerView>> ListAsync(Guid tenantId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var rows = await db.McpServers.AsNoTracking().Where(s => s.TenantId == tenantId).OrderBy(s => s.Name).ToListAsync(ct);
        return [.. rows.Select(ToView)];
    }

    public async Task<McpServerView?> GetAsync(Guid tenantId, Guid id, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var row = await db.McpServers.AsNoTracking().SingleOrDefaultAsync(s => s.Id == id && s.TenantId == tenantId, ct);
        return row is null ? null : ToView(row);
    }

    /// <summary>Stores the server, then lists its tools (a server that does not answer is stored with its state, to be refreshed later).</summary>
    public async Task<McpServerView> RegisterAsync(Guid tenantId, McpServerInput input, string userId, CancellationToken ct)
    {
        var name = (input.Name ?? "").Trim();
        if (!NameRule().IsMatch(name))
        {
            throw AgentException.Bad("name", "Name the server with 1 to 24 lower-case letters, digits or hyphens, starting with a letter (its tools are offered as mcp__<name>__<tool>).");
        }

        if (AddressGuard.CheckUrl(input.Url, options.Value.AllowPrivateAddresses, out var url) is { } badUrl)
        {
            throw AgentException.Bad("url", badUrl);
        }

        var authorization = string.IsNullOrWhiteSpace(input.Authorization) ? null : input.Authorization.Trim();
        if (authorization is not null && (authorization.Length > MaxAuthorizationLength || authorization.Any(char.IsControl)))
        {
            throw AgentException.Bad("authorization", $"The authorization header must be one line of at most {MaxAuthorizationLength:N0} characters.");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var row = new McpServer
        {
            Id = Guid.CreateVersion7(), TenantId = tenantId, Name = name, Url = url!.AbsoluteUri,
            ProtectedAuthHeader = authorization is null ? null : source.Protector.Protect(authorization),
            AuthHeaderHint = authorization is null ? null : "…" + authorization[^Math.Min(4, authorization.Length)..],
            CreatedByUserId = userId, CreatedUtc = now, UpdatedUtc = now,
        };
        bool added;
        try
        {
            // The count and the insert in one registration that no other of the tenant's can interleave with.
            added = await limit.TryAddAsync(row, options.Value.MaxServersPerTenant, ct);
        }
        catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
        {
            throw new AgentException(409, AgentException.Conflict, $"This tenant already has an MCP server named '{name}'.", "name");
        }

        if (!added)
        {
            throw new AgentException(409, AgentException.Conflict, $"This tenant already has {options.Value.MaxServersPerTenant} MCP servers, the most allowed.", "name");
        }

        await audit.WriteAsync("mcp_server.register", $"mcp_server:{row.Id}", tenantId, new { name, url = row.Url, authorization = authorization is not null }, ct);
        return await RefreshAsync(tenantId, row.Id, ct) ?? ToView(row);
    }

    /// <summary>Asks the server for its tools and stores what can be offered, with the server's state. Null when there is no such server.</summary>
    public async Task<McpServerView?> RefreshAsync(Guid tenantId, Guid id, CancellationToken ct)
    {
        McpServer? row;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            row = await db.McpServers.AsNoTracking().SingleOrDefaultAsync(s => s.Id == id && s.TenantId == tenantId, ct);
        }

        if (row is null)
        {
            return null;
        }

        var server = new McpServerRef(row.Id, tenantId, row.Name, new Uri(row.Url), row.ProtectedAuthHeader);
        IReadOnlyList<McpListedTool> listed;
        try
        {
            var authorization = row.ProtectedAuthHeader is null ? null : source.Protector.Unprotect(row.ProtectedAuthHeader);
            listed = await connector.ListToolsAsync(server.Url, authorization, ct);
        }
        catch (McpServerException ex)
        {
            // The last good listing stays: its tools answer with a clear error while the server is down.
            await McpToolSource.MarkAsync(dbFactory, server, ex.State, ex.Message, clock, ct);
            return await GetAsync(tenantId, id, ct);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            await McpToolSource.MarkAsync(dbFactory, server, McpServerException.Invalid, "The stored authorization header can no longer be read; register the server again.", clock, ct);
            return await GetAsync(tenantId, id, ct);
        }

        var (kept, leftOut) = Accept(row.Name, listed);
        var note = leftOut.Count == 0 ? null : Cut("Left out: " + string.Join("; ", leftOut));
        var now = clock.GetUtcNow().UtcDateTime;
        var toolsJson = McpToolSource.FormatListing(kept);
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            await db.McpServers.Where(s => s.Id == id && s.TenantId == tenantId)
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.ToolsJson, toolsJson).SetProperty(s => s.State, "ok").SetProperty(s => s.LastError, note)
                    .SetProperty(s => s.CheckedUtc, now).SetProperty(s => s.UpdatedUtc, now), ct);
        }

        return await GetAsync(tenantId, id, ct);
    }

    public async Task<bool> RemoveAsync(Guid tenantId, Guid id, CancellationToken ct)
    {
        string? name;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            name = await db.McpServers.Where(s => s.Id == id && s.TenantId == tenantId).Select(s => s.Name).FirstOrDefaultAsync(ct);
            if (name is null || await db.McpServers.Where(s => s.Id == id && s.TenantId == tenantId).ExecuteDeleteAsync(ct) == 0)
            {
                return false;
            }
        }

        await audit.WriteAsync("mcp_server.remove", $"mcp_server:{id}", tenantId, new { name }, ct);
        return true;
    }

    /// <summary>The listed tools that can be offered: a name providers accept, a schema that builds, within the per-server limit.</summary>
    private (List<McpListedTool> Kept, List<string> LeftOut) Accept(string server, IReadOnlyList<McpListedTool> listed)
    {
        var kept = new List<McpListedTool>();
        var leftOut = new List<string>();
        foreach (var tool in listed)
        {
            var why = McpToolSource.CheckToolName(server, tool.Name ?? "")
                ?? (kept.Any(k => k.Name == tool.Name) ? "listed twice" : null)
                ?? (kept.Count >= options.Value.MaxToolsPerServer ? $"more than {options.Value.MaxToolsPerServer} tools" : null)
                ?? SchemaProblem(server, tool);
            if (why is null)
            {
                kept.Add(tool);
            }
            else
            {
                leftOut.Add($"{Cut(tool.Name ?? "(no name)", 64)} ({why})");
            }
        }

        return (kept, leftOut);
    }

    private static string? SchemaProblem(string server, McpListedTool tool)
    {
        if (tool.InputSchema.ValueKind != System.Text.Json.JsonValueKind.Object)
        {
            return "its input schema is not a JSON object";
        }

        try
        {
            ToolSchemas.Build(new ToolDescriptor(McpToolSource.ToolName(server, tool.Name), "", tool.InputSchema.GetRawText(), AgentPermissions.McpUse,
                AutonomyLevel.ConfirmEach, ToolRisk.External, true, 1, false));
            return null;
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or ArgumentException or InvalidOperationException or Json.Schema.JsonSchemaException)
        {
            return "its input schema is not a valid JSON schema";
        }
    }

    private static string Cut(string s, int max = 1_000) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static McpServerView ToView(McpServer s) => new(s.Id, s.Name, s.Url, s.AuthHeaderHint, s.State, s.LastError, s.CheckedUtc,
        [.. McpToolSource.ParseListing(s.ToolsJson).Select(t => new McpToolView(McpToolSource.ToolName(s.Name, t.Name), t.Name, t.Description, t.ReadOnly))],
        s.CreatedUtc);
}
