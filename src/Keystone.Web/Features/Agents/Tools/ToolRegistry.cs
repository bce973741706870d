using System.Collections.Frozen;
using System.Text.Json;
using Json.Schema;
using Keystone.Gateway;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Agents.Tools;

/// <summary>
/// The tools agents may be given, in code: each with its schema (built once), permission, levels, audit flag and output
/// cap. Singleton.
/// </summary>
internal sealed class ToolRegistry
{
    private readonly FrozenDictionary<string, (IAgentTool Tool, JsonSchema Schema, JsonElement Parameters)> _tools;
    private readonly IOptions<AgentsOptions> _options;

    public ToolRegistry(IEnumerable<IAgentTool> tools, IOptions<AgentsOptions> options)
    {
        _options = options;
        _tools = tools.ToFrozenDictionary(t => t.Descriptor.Name,
            t => (t, ToolSchemas.Build(t.Descriptor), JsonDocument.Parse(t.Descriptor.InputSchemaJson).RootElement.Clone()), StringComparer.Ordinal);
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
        return wanted > max ? max : wanted;
    }

    /// <summary>The function definitions the model is offered: the allowlisted tools the registry has.</summary>
    public IReadOnlyList<ToolDefinition> DefinitionsFor(IEnumerable<string> allowlist)
        => [.. allowlist.Where(_tools.ContainsKey).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(n => new ToolDefinition(n, _tools[n].Tool.Descriptor.Description, _tools[n].Parameters))];

    /// <summary>Splits a stored allowlist.</summary>
    public static IReadOnlyList<string> Split(string? tools) => (tools ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
