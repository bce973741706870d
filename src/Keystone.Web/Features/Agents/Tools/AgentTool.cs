using System.Text.Json;
using Json.Schema;
using Keystone.Data;

namespace Keystone.Web.Features.Agents.Tools;

/// <summary>How far an agent may act with a tool on its own (the issue's levels; a higher number is more autonomy).</summary>
internal enum AutonomyLevel
{
    /// <summary>L1: the call is proposed to the person, never executed.</summary>
    SuggestOnly = 1,

    /// <summary>L2: executed at once; the record it makes can be undone by a person.</summary>
    ActWithUndo = 2,

    /// <summary>L3: every call waits for a person's approval.</summary>
    ConfirmEach = 3,

    /// <summary>L4: the first call of the tool in a run waits for approval; the rest of the run's calls of it go ahead.</summary>
    ConfirmPlanOnce = 4,

    /// <summary>L5: executed at once and written to the audit log.</summary>
    Autonomous = 5,
}

/// <summary>What kind of effect a tool has; destructive, external and spending tools stay at L3 unless the platform allows more.</summary>
internal enum ToolRisk
{
    Read,
    Internal,
    External,
    Spending,
    Destructive,
}

/// <summary>
/// A tool in the registry: what the model is told (name, description, input schema) and the rules around it
/// (permission, autonomy, audit, output cap).
/// </summary>
/// <param name="Name">The function name the model calls.</param>
/// <param name="Description">What it does, for the model.</param>
/// <param name="InputSchemaJson">JSON schema of the input, validated before every call.</param>
/// <param name="RequiredPermission">What whom the run acts for must hold (<see cref="AgentPermissions"/>).</param>
/// <param name="DefaultLevel">The level a tenant gets until its admin sets another.</param>
/// <param name="Risk">Its kind of effect (decides the platform's maximum level).</param>
/// <param name="Audited">Every execution is written to the audit log.</param>
/// <param name="OutputCapChars">Longer output is cut here, with a marker, and counted.</param>
/// <param name="InputEditable">An approver may edit the input before approving.</param>
internal sealed record ToolDescriptor(
    string Name,
    string Description,
    string InputSchemaJson,
    string RequiredPermission,
    AutonomyLevel DefaultLevel,
    ToolRisk Risk,
    bool Audited,
    int OutputCapChars,
    bool InputEditable)
{
    /// <summary>The platform's most autonomous level for the tool: L3 for destructive, external and spending tools.</summary>
    public AutonomyLevel PlatformMaxLevel => Risk is ToolRisk.Destructive or ToolRisk.External or ToolRisk.Spending
        ? AutonomyLevel.ConfirmEach
        : AutonomyLevel.Autonomous;
}

/// <summary>One execution: the validated input, the run it belongs to and the idempotency key it must honour.</summary>
internal sealed record ToolInvocation(Guid TenantId, Guid RunId, string IdempotencyKey, string OnBehalfOf, JsonElement Input);

/// <summary>A tool the registry offers. Executions must be idempotent on <see cref="ToolInvocation.IdempotencyKey"/>.</summary>
internal interface IAgentTool
{
    ToolDescriptor Descriptor { get; }

    /// <summary>One plain sentence for the approver: what happens if approved.</summary>
    string Summarize(JsonElement input);

    /// <summary>Money the call would spend (shown to the approver); null for tools that spend none.</summary>
    long? AmountMicros(JsonElement input) => null;

    /// <summary>Runs the tool; returns its output as JSON text. Throws <see cref="ToolException"/> for an error the model can act on.</summary>
    Task<string> ExecuteAsync(ToolInvocation invocation, KeystoneDbFactory db, TimeProvider clock, CancellationToken ct);
}

/// <summary>A tool's error that goes back to the model (bad account, amount too high, …).</summary>
internal sealed class ToolException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}

/// <summary>The schema of a descriptor, built once (JsonSchema.Net, as the eval scorers use it).</summary>
internal static class ToolSchemas
{
    // A base address per build: the registry is global, and each registry (tests build several) registers its own.
    public static JsonSchema Build(ToolDescriptor d)
        => JsonSchema.FromText(d.InputSchemaJson, new BuildOptions(), new Uri($"https://keystone.invalid/tools/{d.Name}/{Guid.NewGuid():N}"));

    /// <summary>Null when <paramref name="input"/> is valid, else where and why not, in words the model can act on.</summary>
    public static string? Check(JsonSchema schema, JsonElement input)
    {
        var result = schema.Evaluate(input, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid)
        {
            return null;
        }

        var first = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).MaxBy(d => d.InstanceLocation.ToString().Length);
        var at = first?.InstanceLocation.ToString();
        var why = first?.Errors?.Values.FirstOrDefault() ?? result.Errors?.Values.FirstOrDefault() ?? "it does not match the schema";
        return $"the input is not valid at {(string.IsNullOrEmpty(at) ? "its root" : at)}: {why}";
    }
}

/// <summary>How an undo ended.</summary>
internal enum UndoOutcome
{
    /// <summary>This request undid it.</summary>
    Undone,

    /// <summary>It had been undone before (by this or another request); nothing changed now.</summary>
    AlreadyUndone,

    /// <summary>The undo window had closed; nothing changed.</summary>
    WindowClosed,

    /// <summary>The tool made no record under the key (it failed, or never ran).</summary>
    NothingToUndo,
}

/// <summary>What an undo found: the outcome, and when and by whom the record was undone (this time or before).</summary>
internal sealed record UndoResult(UndoOutcome Outcome, DateTime? UndoneUtc, string? UndoneBy);

/// <summary>
/// A tool whose action a person can undo within a window (L2 "act with undo"). The undo is one conditional update, so
/// two people undoing at once change the record once and the second is told it was already undone.
/// </summary>
internal interface IUndoableTool : IAgentTool
{
    Task<UndoResult> UndoAsync(Guid tenantId, string idempotencyKey, string actor, DateTime madeAfterUtc, KeystoneDbFactory db, TimeProvider clock,
        CancellationToken ct);

    /// <summary>When (and by whom) the record under the key was undone; null when there is no record, an empty result while it stands.</summary>
    Task<UndoResult?> UndoStateAsync(Guid tenantId, string idempotencyKey, KeystoneDbFactory db, CancellationToken ct);
}
