namespace Keystone.Web.Features.Agents;

/// <summary>
/// Hangfire's entry to a run: takes the id only and is re-entrant (a run held by a live worker, finished or paused is
/// left alone). Hangfire passes its shutdown token: a stopping server leaves the run for the janitor to resume.
/// </summary>
internal sealed class AgentRunJob(AgentRunner runner)
{
    [Hangfire.AutomaticRetry(Attempts = 0)]
    public Task RunAsync(Guid runId, CancellationToken ct) => runner.RunAsync(runId, ct);
}
