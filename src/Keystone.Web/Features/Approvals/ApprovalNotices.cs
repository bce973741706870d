namespace Keystone.Web.Features.Approvals;

/// <summary>
/// "A tenant's pending actions changed" (requested, decided, expired), for the open inboxes and navigation badges, so
/// they update without a reload. Raised here at once for this instance's pages; one implementation per database mode
/// tells the other instances: <see cref="PostgresApprovalNotices"/> (PostgreSQL <c>NOTIFY</c> / <c>LISTEN</c>, like the
/// settings change feed of decision 27) and <see cref="SqliteApprovalNotices"/> (one instance: nobody else to tell).
/// A notice carries only the tenant: a page re-reads what it shows, so a lost notice is never a wrong answer, only a
/// late one (the page's own refresh catches up).
/// </summary>
internal abstract class ApprovalNotices : BackgroundService
{
    private readonly ILogger _log;

    protected ApprovalNotices(ILogger log) => _log = log;

    /// <summary>Raised with the tenant whose actions changed (<see cref="Guid.Empty"/>: any may have), on the publisher's or the listener's thread: a subscriber must not block.</summary>
    public event Action<Guid>? Changed;

    /// <summary>Tells this instance's pages now and the other instances soon; never blocks, never throws.</summary>
    public void Publish(Guid tenantId)
    {
        Raise(tenantId);
        Send(tenantId);
    }

    /// <summary>Sends the notice to the other instances (nothing in the one-instance mode).</summary>
    protected abstract void Send(Guid tenantId);

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
}

/// <summary>SQLite mode runs one instance: raising the notice here reaches every open page.</summary>
internal sealed class SqliteApprovalNotices(ILogger<ApprovalNotices> log) : ApprovalNotices(log)
{
    protected override void Send(Guid tenantId)
    {
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.CompletedTask;
}
