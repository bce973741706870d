using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keystone.Data;
using Keystone.Web.Features.Agents.Tools;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Agents.Mcp;

/// <summary>
/// A tenant's MCP tools for the registry, built from each server's stored listing (no network call per step) and cached
/// until the server's row changes. Singleton.
/// </summary>
internal sealed partial class McpToolSource(KeystoneDbFactory dbFactory, McpConnector connector, IDataProtectionProvider protection, IOptions<McpOptions> options)
{
    /// <summary>
    /// MCP tools are offered as <c>mcp__&lt;server&gt;__&lt;tool&gt;</c>: providers accept only letters, digits, <c>_</c> and
    /// <c>-</c> in function names (no dots), and the double underscore cannot occur inside a server name.
    /// </summary>
    public const string Prefix = "mcp__";

    /// <summary>The longest name a provider accepts for a function (and the tool settings' key length).</summary>
    public const int MaxToolNameLength = 64;

    private readonly ConcurrentDictionary<Guid, (DateTime UpdatedUtc, IReadOnlyList<RegisteredTool> Tools)> _cache = new();

    public IDataProtector Protector { get; } = protection.CreateProtector("Keystone.Agents.McpServers.v1");

    public static string ToolName(string server, string tool) => $"{Prefix}{server}__{tool}";

    /// <summary>Null when a listed tool name can be offered to a model under the server's name, else why not.</summary>
    public static string? CheckToolName(string server, string tool)
        => !ToolNameRule().IsMatch(tool) ? "its name has characters a model provider does not accept"
            : ToolName(server, tool).Length > MaxToolNameLength ? $"its full name is longer than {MaxToolNameLength} characters"
            : null;

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex ToolNameRule();

    public async Task<IReadOnlyList<RegisteredTool>> ToolsAsync(Guid tenantId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var servers = await db.McpServers.AsNoTracking().Where(s => s.TenantId == tenantId).Select(s => new { s.Id, s.UpdatedUtc }).ToListAsync(ct);
        var tools = new List<RegisteredTool>();
        foreach (var s in servers)
        {
            if (!_cache.TryGetValue(s.Id, out var cached) || cached.UpdatedUtc != s.UpdatedUtc)
            {
                var row = await db.McpServers.AsNoTracking().SingleOrDefaultAsync(x => x.Id == s.Id && x.TenantId == tenantId, ct);
                if (row is null)
                {
                    continue;
                }

                cached = (row.UpdatedUtc, Build(row));
                _cache[s.Id] = cached;
            }

            tools.AddRange(cached.Tools);
        }

        return tools;
    }

    /// <summary>The server's stored listing as registry tools; a tool whose schema does not build is left out (it was checked when listed).</summary>
    private List<RegisteredTool> Build(Keystone.Data.Agents.McpServer row)
    {
        var server = new McpServerRef(row.Id, row.TenantId, row.Name, new Uri(row.Url), row.ProtectedAuthHeader);
        var result = new List<RegisteredTool>();
        foreach (var listed in ParseListing(row.ToolsJson))
        {
            try
            {
                result.Add(RegisteredTool.From(new McpTool(server, listed, connector, Protector, options.Value.OutputCapChars)));
            }
            catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException or Json.Schema.JsonSchemaException)
            {
                // Left out: the listing check refuses such a schema; a row edited by hand cannot break the registry.
            }
        }

        return result;
    }

    public static IReadOnlyList<McpListedTool> ParseListing(string? json)
        => string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<List<McpListedTool>>(json, ListingJson) ?? [];

    public static string FormatListing(IEnumerable<McpListedTool> tools) => JsonSerializer.Serialize(tools, ListingJson);

    private static readonly JsonSerializerOptions ListingJson = new(JsonSerializerDefaults.Web);

    /// <summary>Records the server's state after a contact (the page shows it). Not the row's UpdatedUtc: the tool set is unchanged.</summary>
    public static async Task MarkAsync(KeystoneDbFactory dbFactory, McpServerRef server, string state, string? error, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(server.TenantId);
        await db.McpServers.Where(s => s.Id == server.Id && s.TenantId == server.TenantId)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.State, state).SetProperty(s => s.LastError, error).SetProperty(s => s.CheckedUtc, now), ct);
    }
}
