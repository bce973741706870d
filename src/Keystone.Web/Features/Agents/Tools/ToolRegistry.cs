using System.Collections.Frozen;
using System.Text.Json;
using Json.Schema;
using Keystone.Gateway;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Agents.Tools;

/// <summary>A tool with its schema built once and its parameters as the model is offered them.</summary>
internal sealed record RegisteredTool(IAgentTool Tool, JsonSchema Schema, JsonElement Parameters)
{
    public static RegisteredTool From(IAgentTool tool)
        => new(tool, ToolSchemas.Build(tool.Descriptor), JsonDocument.Parse(tool.Descriptor.InputSchemaJson).RootElement.Clone());
}

/// <summary>
/// The tools agents may be given: the built-in ones in code, each with its schema (built once), permission, levels,
/// audit flag and output cap (the singleton); and, through <see cref="ForTenantAsync"/>, the same plus the tools of the
/// tenant's MCP servers (decision 0045), under the same rules.
/// </summary>
internal sealed class ToolRegistry
{
    private readonly FrozenDictionary<string, RegisteredTool> _tools;
    private readonly IOptions<AgentsOptions> _options;
    private readonly Mcp.McpToolSource? _mcp;

    public ToolRegistry(IEnumerable<IAgentTool> tools, IOptions<AgentsOptions> options, Mcp.McpToolSource? mcp = null)
    {
        _options = options;
        _mcp = mcp;
        _tools = tools.ToFrozenDictionary(t => t.Descriptor.Name, RegisteredTool.From, StringComparer.Ordinal);
    }

    private ToolRegistry(FrozenDictionary<string, RegisteredTool> tools, IOptions<AgentsOptions> options)
    {
        _options = options;
        _tools = tools;
    }

    /// <summary>
    /// The registry a run or a tenant's settings use: the built-in tools and the tenant's MCP tools (namespaced
    /// <c>mcp__&lt;server&gt;__&lt;tool&gt;</c>, so they never shadow a built-in one). Built-ins alone when it has none.
    /// </summary>
    public async Task<ToolRegistry> ForTenantAsync(Guid tenantId, CancellationToken ct)
    {
        if (_mcp is null)
        {
            return this;
        }

        var extra = await _mcp.ToolsAsync(tenantId, ct);
        if (extra.Count == 0)
        {
            return this;
        }

        var all = new Dictionary<string, RegisteredTool>(_tools, StringComparer.Ordinal);
        foreach (var tool in extra)
        {
            all.TryAdd(tool.Tool.Descriptor.Name, tool);
        }

        return new ToolRegistry(all.ToFrozenDictionary(StringComparer.Ordinal), _options);
    }

    /// <summary>Every tool, by name.</summary>
    public IReadOnlyList<ToolDescriptor> All => [.. _tools.Values.Select(t => t.Tool.Descriptor).OrderBy(d => d.Name, StringComparer.Ordinal)];

    public IAgentTool? Find(string name) => _tools.TryGetValue(name, out var t) ? t.Tool : null;

    public JsonSchema SchemaOf(string name) => _tools[name].Schema;

    /// <summary>The most autonomous level the platform allows for the tool (options first, then the tool's risk).</summary>
    public AutonomyLevel MaxLevel(ToolDescriptor d)
        => _options.Value.ToolMaxLevels.TryGetValue(d.Name, out var level) ? (AutonomyLevel)level : d.PlatformMaxLevel;

    /// <summary>The level in force: the tenant's setting, else the tool's default, never above the platform's maximum.</summary>
    public AutonomyLevel EffectiveLevel(ToolDescriptor d, int? tenantLevel)
    {
        var wanted = tenantLevel is >= 1 and <= 5 ? (AutonomyLevel)tenantLevel.Value : d.DefaultLevel;
        var max = MaxLevel(d);
        var level = wanted > max ? max : wanted;
        // L2 is "act with undo": a tool whose action cannot be undone is asked for like L3 instead of acting unrecoverably.
        return level == AutonomyLevel.ActWithUndo && Find(d.Name) is not IUndoableTool ? AutonomyLevel.ConfirmEach : level;
    }

    /// <summary>The function definitions the model is offered: the allowlisted tools the registry has.</summary>
    public IReadOnlyList<ToolDefinition> DefinitionsFor(IEnumerable<string> allowlist)
        => [.. allowlist.Where(_tools.ContainsKey).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(n => new ToolDefinition(n, _tools[n].Tool.Descriptor.Description, _tools[n].Parameters))];

    /// <summary>Splits a stored allowlist.</summary>
    public static IReadOnlyList<string> Split(string? tools) => (tools ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
