namespace Keystone.Gateway;

/// <summary>
/// The gateway's call records as the host sees them. Calls are written off the request path (queued, then stored in
/// batches), so a call the caller already has an answer for may not be in the database yet; this says whether one is
/// still on its way, and waits for what is queued.
/// </summary>
public interface IRecordedCalls
{
    /// <summary>
    /// True while a call of <paramref name="tenantId"/> with <paramref name="traceId"/> is queued or being written.
    /// A call leaves this state only after its row is committed (or given up on), so checking this first and the
    /// database second never misses a call that was answered before the check.
    /// </summary>
    bool IsPending(Guid tenantId, Guid traceId);

    /// <summary>Waits until every call queued before this one is stored (or given up on).</summary>
    Task FlushAsync(CancellationToken ct);
}
