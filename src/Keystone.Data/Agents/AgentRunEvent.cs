namespace Keystone.Data.Agents;

/// <summary>
/// One event of a run's stream (token, tool_use, tool_result, status, approval_required, error, done), in the order
/// it happened. The SSE endpoint reads them by id, so any instance can serve a run that another one executes, and a
/// client that reconnects with <c>Last-Event-ID</c> misses nothing.
/// </summary>
public sealed class AgentRunEvent : ITenantOwned
{
    public long Id { get; set; }

    public Guid TenantId { get; set; }

    public Guid RunId { get; set; }

    public string Type { get; set; } = "";

    public string DataJson { get; set; } = "{}";

    public DateTime CreatedUtc { get; set; }
}
