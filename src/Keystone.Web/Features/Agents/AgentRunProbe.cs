using Keystone.Data.Agents;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// Points inside the run loop where tests stop a worker the way a dying process would (no clean-up runs after them).
/// Does nothing in production; a test replaces the singleton.
/// </summary>
internal class AgentRunProbe
{
    /// <summary>After a step was persisted, before the next begins.</summary>
    public virtual ValueTask StepPersistedAsync(AgentRunStep step, CancellationToken ct) => ValueTask.CompletedTask;

    /// <summary>After a tool ran, before its result was persisted.</summary>
    public virtual ValueTask ToolExecutedAsync(AgentRunStep step, CancellationToken ct) => ValueTask.CompletedTask;
}
