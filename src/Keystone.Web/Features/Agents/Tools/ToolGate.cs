using System.Text.Json;

namespace Keystone.Web.Features.Agents.Tools;

/// <summary>What happens to one tool call the model asked for.</summary>
internal enum ToolVerdict
{
    /// <summary>Refused before running; the refusal goes back to the model.</summary>
    Refuse,

    /// <summary>L1: recorded as a suggestion for the person, not executed.</summary>
    Suggest,

    Execute,

    NeedsApproval,
}

/// <summary>The gate's decision, with the parsed input when it got that far.</summary>
internal sealed record ToolDecision(ToolVerdict Verdict, IAgentTool? Tool, AutonomyLevel? Level, string? Code = null, string? Message = null)
{
    public static ToolDecision Refused(string code, string message, IAgentTool? tool = null) => new(ToolVerdict.Refuse, tool, null, code, message);
}

/// <summary>
/// The checks before every tool call, in order: the tool exists, it is on the run's allowlist, whom the run acts for
/// holds its permission, the input is valid against its schema; then the autonomy level decides (suggest, run, or ask).
/// </summary>
internal static class ToolGate
{
    public const string UnknownTool = "unknown_tool";
    public const string NotAllowed = "tool_not_allowed";
    public const string PermissionDenied = "permission_denied";
    public const string InvalidInput = "invalid_input";

    /// <param name="registry">The tools.</param>
    /// <param name="name">The function the model called.</param>
    /// <param name="argumentsJson">Its arguments as the model wrote them.</param>
    /// <param name="allowlist">The run's allowlist.</param>
    /// <param name="permissions">The run's permissions (stored form).</param>
    /// <param name="tenantLevel">The tenant's level for the tool, if its admin set one.</param>
    /// <param name="approvedEarlierInRun">An earlier call of the tool in this run was approved (L4 asks once per run).</param>
    public static ToolDecision Decide(ToolRegistry registry, string name, string argumentsJson, IReadOnlyList<string> allowlist, string permissions,
        int? tenantLevel, bool approvedEarlierInRun)
    {
        var tool = registry.Find(name);
        if (tool is null)
        {
            return ToolDecision.Refused(UnknownTool, $"There is no tool named '{name}'. Use only the tools you were given.");
        }

        if (!allowlist.Contains(name, StringComparer.Ordinal))
        {
            return ToolDecision.Refused(NotAllowed, $"The tool '{name}' is not allowed for this agent. Use only the tools you were given.", tool);
        }

        if (!AgentPermissions.Has(permissions, tool.Descriptor.RequiredPermission))
        {
            return ToolDecision.Refused(PermissionDenied,
                $"The person this run acts for may not use '{name}' (it needs the '{tool.Descriptor.RequiredPermission}' permission). Tell them instead of retrying.", tool);
        }

        if (CheckInput(registry, tool, argumentsJson) is { } invalid)
        {
            return ToolDecision.Refused(InvalidInput, $"The call to '{name}' was not made: {invalid} Correct the input and call it again.", tool);
        }

        var level = registry.EffectiveLevel(tool.Descriptor, tenantLevel);
        return level switch
        {
            AutonomyLevel.SuggestOnly => new ToolDecision(ToolVerdict.Suggest, tool, level),
            AutonomyLevel.ConfirmEach => new ToolDecision(ToolVerdict.NeedsApproval, tool, level),
            AutonomyLevel.ConfirmPlanOnce when !approvedEarlierInRun => new ToolDecision(ToolVerdict.NeedsApproval, tool, level),
            _ => new ToolDecision(ToolVerdict.Execute, tool, level),
        };
    }

    /// <summary>Null when the arguments parse as JSON and match the tool's schema, else why not.</summary>
    public static string? CheckInput(ToolRegistry registry, IAgentTool tool, string argumentsJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(string.IsNullOrWhiteSpace(argumentsJson) ? "{}" : argumentsJson);
            return ToolSchemas.Check(registry.SchemaOf(tool.Descriptor.Name), doc.RootElement) is { } why ? why + "." : null;
        }
        catch (JsonException)
        {
            return "the arguments are not valid JSON.";
        }
    }

    /// <summary>Cuts <paramref name="output"/> to the tool's cap with a marker that says how much was left out.</summary>
    public static (string Output, bool Truncated) Cap(string output, int capChars)
    {
        if (output.Length <= capChars)
        {
            return (output, false);
        }

        var left = output.Length - capChars;
        return (output[..capChars] + $"…[truncated: {left} more characters]", true);
    }
}
