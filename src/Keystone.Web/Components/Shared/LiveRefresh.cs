namespace Keystone.Web.Components.Shared;

/// <summary>
/// A page's live refresh (the console's rule: spend, progress and approvals move without a reload). The page starts
/// it after its first interactive render (never while prerendering) and disposes it with itself; every interval of
/// the page's clock it runs the page's tick until the page closes. Ticks do not queue: a tick that comes while the
/// previous one still runs is taken when it ends.
/// </summary>
internal sealed class LiveRefresh : IDisposable
{
    private PeriodicTimer? _timer;

    /// <summary>
    /// Starts the loop once (later calls do nothing). <paramref name="tick"/> is the page's own: it goes through the
    /// component's <c>InvokeAsync</c> to change state, and handles the failures it wants to survive; any other
    /// failure ends the loop, as the page's closing does.
    /// </summary>
    public void Start(TimeSpan interval, TimeProvider clock, Func<Task> tick, CancellationToken ct)
    {
        if (_timer is not null)
        {
            return;
        }

        _timer = new PeriodicTimer(interval, clock);
        _ = LoopAsync(_timer, tick, ct);
    }

    private static async Task LoopAsync(PeriodicTimer timer, Func<Task> tick, CancellationToken ct)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                await tick();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // The page was closed, or its circuit went away (the renderer refuses InvokeAsync once disposed).
        }
    }

    public void Dispose() => _timer?.Dispose();
}
