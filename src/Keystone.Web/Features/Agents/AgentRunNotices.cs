using Keystone.Web.Features.Approvals;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// "Run R of tenant T wrote new events": whoever commits a run's events (the worker, the approval hand-over, a cancel)
/// says so here, and open views of the run (the playground's <see cref="AgentRunLive"/>, the agents page's runs) read
/// the new rows at once instead of polling. The notice travels on the approvals' live channel
/// (<see cref="IApprovalSourceNotices"/>): in process always, and across PostgreSQL instances over its one NOTIFY /
/// LISTEN connection when <c>Approvals:ListenAcrossInstances</c> is on, so a run executed by another instance's Hangfire
/// worker updates this instance's page too. A notice is only a nudge: views still re-read on <see cref="SafetyPoll"/> in
/// case one was lost (decision 52).
/// </summary>
internal sealed class AgentRunNotices(IApprovalSourceNotices channel, IOptions<AgentsOptions> options)
{
    /// <summary>
    /// How often a view re-reads without a notice. <c>Agents:LiveSafetyPollSeconds</c> when every change reaches this
    /// instance; at most <see cref="NotListeningPoll"/> in PostgreSQL mode without listening, where a run executed by
    /// another instance's worker sends this instance no notice.
    /// </summary>
    public TimeSpan SafetyPoll => channel.ReachesEveryInstance
        ? TimeSpan.FromSeconds(options.Value.LiveSafetyPollSeconds)
        : TimeSpan.FromSeconds(Math.Min(options.Value.LiveSafetyPollSeconds, NotListeningPoll.TotalSeconds));

    /// <summary>The safety poll's ceiling when other instances cannot notify this one.</summary>
    public static readonly TimeSpan NotListeningPoll = TimeSpan.FromSeconds(2);

    /// <summary>Tells every open view of the run (here, and on the other instances when they listen); never blocks or throws.</summary>
    public void Changed(Guid tenantId, Guid runId) => channel.PublishSource(tenantId, runId);

    /// <summary>
    /// Calls <paramref name="onChange"/> with the run's id for each notice about a run of <paramref name="tenantId"/>
    /// (<paramref name="runId"/>: that run only), and with <see cref="Guid.Empty"/> when anything may have changed (the
    /// listener reconnected). Called on the publisher's thread: it must not block. Dispose to stop (with the circuit).
    /// </summary>
    public IDisposable Subscribe(Guid tenantId, Guid? runId, Action<Guid> onChange)
    {
        void Handler(Guid tenant, Guid source)
        {
            if (source == Guid.Empty || (tenant == tenantId && (runId is null || runId == source)))
            {
                onChange(source);
            }
        }

        channel.SourceChanged += Handler;
        return new Subscription(() => channel.SourceChanged -= Handler);
    }

    private sealed class Subscription(Action unsubscribe) : IDisposable
    {
        private Action? _unsubscribe = unsubscribe;

        public void Dispose() => Interlocked.Exchange(ref _unsubscribe, null)?.Invoke();
    }
}
