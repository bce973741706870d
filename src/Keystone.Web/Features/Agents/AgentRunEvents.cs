using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Agents;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// The one event taxonomy of a run (the SSE stream; the playground's agent mode is to use the same): <c>token</c> (a model
/// step's text), <c>tool_use</c>, <c>tool_result</c>, <c>status</c>, <c>approval_required</c>, <c>error</c>, <c>done</c>.
/// Events are rows written in the same transaction as the step they describe.
/// </summary>
internal static class AgentRunEvents
{
    public const string Token = "token";
    public const string ToolUse = "tool_use";
    public const string ToolResult = "tool_result";
    public const string Status = "status";
    public const string ApprovalRequired = "approval_required";
    public const string Error = "error";
    public const string Done = "done";

    public static readonly IReadOnlyList<string> All = [Token, ToolUse, ToolResult, Status, ApprovalRequired, Error, Done];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Adds an event to <paramref name="db"/> (saved with the caller's changes).</summary>
    public static void Add(KeystoneDbContext db, Guid tenantId, Guid runId, string type, object data, DateTime nowUtc)
        => db.AgentRunEvents.Add(new AgentRunEvent
        {
            TenantId = tenantId, RunId = runId, Type = type, DataJson = JsonSerializer.Serialize(data, Json), CreatedUtc = nowUtc,
        });

    /// <summary>The wire name of a state (<c>waiting_approval</c>).</summary>
    public static string StateName(AgentRunState state) => state switch
    {
        AgentRunState.WaitingApproval => "waiting_approval",
        _ => state.ToString().ToLowerInvariant(),
    };

    public static string StateName(AgentStepState state) => state switch
    {
        AgentStepState.AwaitingApproval => "awaiting_approval",
        _ => state.ToString().ToLowerInvariant(),
    };

    public static bool IsFinished(AgentRunState state) => state is AgentRunState.Succeeded or AgentRunState.Failed or AgentRunState.Cancelled;
}
