namespace Keystone.Web.Features.Approvals;

/// <summary>
/// "A tenant's pending actions changed" (requested, decided, expired), for the open inboxes and navigation badges, so
/// they update without a reload. Raised here at once for this instance's pages (<see cref="InProcessApprovalNotices"/>,
/// the default in both modes); with <c>Approvals:ListenAcrossInstances</c> on, <see cref="PostgresApprovalNotices"/> also
/// tells the other PostgreSQL instances (<c>NOTIFY</c> / <c>LISTEN</c>, like the settings change feed of decision 27), at
/// the cost of one more long-lived connection per instance (decision 35).
/// A notice carries only the tenant: a page re-reads what it shows, so a lost notice is never a wrong answer, only a
/// late one (the page's own refresh catches up).
/// </summary>
internal abstract class ApprovalNotices : BackgroundService, IApprovalSourceNotices
{
    private readonly ILogger _log;

    protected ApprovalNotices(ILogger log) => _log = log;

    /// <summary>Raised with the tenant whose actions changed (<see cref="Guid.Empty"/>: any may have), on the publisher's or the listener's thread: a subscriber must not block.</summary>
    public event Action<Guid>? Changed;

    /// <inheritdoc />
    public event Action<Guid, Guid>? SourceChanged;

    /// <inheritdoc />
    public abstract bool ReachesEveryInstance { get; }

    /// <summary>Tells this instance's pages now and the other instances soon; never blocks, never throws.</summary>
    public void Publish(Guid tenantId)
    {
        Raise(tenantId);
        Send(tenantId, null);
    }

    /// <inheritdoc />
    public void PublishSource(Guid tenantId, Guid sourceId)
    {
        RaiseSource(tenantId, sourceId);
        Send(tenantId, sourceId);
    }

    /// <summary>Sends the notice (a tenant's actions, or with <paramref name="sourceId"/> a requester's source) to the other instances (nothing in the one-instance mode).</summary>
    protected abstract void Send(Guid tenantId, Guid? sourceId);

    /// <summary>Hands a notice to every subscriber; one page's failure never reaches the publisher or the others.</summary>
    protected void Raise(Guid tenantId)
    {
        foreach (var handler in Changed?.GetInvocationList().Cast<Action<Guid>>() ?? [])
        {
            try
            {
                handler(tenantId);
            }
            catch (Exception ex)
            {
                _log.LogWarning(ex, "An approvals subscriber failed on a notice for tenant {TenantId}", tenantId);
            }
        }
    }

    /// <summary>Hands a source notice to every subscriber, each failure kept to itself.</summary>
    protected void RaiseSource(Guid tenantId, Guid sourceId)
    {
        foreach (var handler in SourceChanged?.GetInvocationList().Cast<Action<Guid, Guid>>() ?? [])
        {
            try
            {
                handler(tenantId, sourceId);
            }
            catch (Exception ex)
            {
                _log.LogWarning(ex, "A subscriber failed on a notice for source {SourceId} of tenant {TenantId}", sourceId, tenantId);
            }
        }
    }
}

/// <summary>
/// SQLite mode's notices: one instance by design, so this instance's pages are every page there is.
/// </summary>
internal sealed class InProcessApprovalNotices(ILogger<ApprovalNotices> log) : ApprovalNotices(log)
{
    /// <inheritdoc />
    public override bool ReachesEveryInstance => true;

    protected override void Send(Guid tenantId, Guid? sourceId)
    {
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.CompletedTask;
}
