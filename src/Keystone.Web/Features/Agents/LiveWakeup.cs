namespace Keystone.Web.Features.Agents;

/// <summary>
/// A view's wake-up: <see cref="Set"/> from any thread (a notice); <see cref="WaitAsync"/> returns at the first signal
/// since the last wait, or after the safety poll. Signals while nobody waits fold into one.
/// </summary>
internal sealed class LiveWakeup : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public void Set()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: the next wait reads everything new anyway.
        }
        catch (ObjectDisposedException)
        {
            // The view closed.
        }
    }

    /// <summary>Waits for a signal (true) or <paramref name="max"/> on <paramref name="clock"/> (false); throws only when <paramref name="ct"/> is cancelled.</summary>
    public async Task<bool> WaitAsync(TimeSpan max, TimeProvider clock, CancellationToken ct)
    {
        using var timeout = new CancellationTokenSource(max, clock);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            await _signal.WaitAsync(either.Token);
            return true;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false; // The safety poll: read again even without a notice.
        }
    }

    public void Dispose() => _signal.Dispose();
}
