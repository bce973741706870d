namespace Keystone.Web.Components.Shared;

/// <summary>
/// Turns a stream of token arrivals into at most one render per interval, so a fast stream does not send a render
/// diff per token over the circuit: producers call
/// <see cref="MarkDirty"/>; a timer on the injected <see cref="TimeProvider"/> flushes when something changed.
/// One batcher serves every stream of a component (the playground's compared answers, a trace replay), so three
/// compared streams still cost one render per tick.
/// </summary>
internal sealed class RenderBatcher : IAsyncDisposable
{
    private readonly Func<Task> _flush;
    private readonly PeriodicTimer _timer;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _dirty;
    private long _batches;

    /// <param name="time">Clock driving the ticks.</param>
    /// <param name="interval">Shortest time between two renders (the playground and the trace replay use 50 ms).</param>
    /// <param name="flush">Applies pending text and renders; called only when something changed since the last call.</param>
    public RenderBatcher(TimeProvider time, TimeSpan interval, Func<Task> flush)
    {
        _flush = flush;
        _timer = new PeriodicTimer(interval, time);
        _loop = RunAsync();
    }

    /// <summary>Renders done so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Something changed; it will be rendered on the next tick.</summary>
    public void MarkDirty() => Interlocked.Exchange(ref _dirty, 1);

    /// <summary>Renders now if anything is pending (the end of a stream should not wait for a tick).</summary>
    public async Task FlushNowAsync()
    {
        if (Interlocked.Exchange(ref _dirty, 0) == 1)
        {
            await _flush();

            // Counted once the render is done, so a reader that sees the count also sees what the render did.
            Interlocked.Increment(ref _batches);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _timer.Dispose();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
            // Stopping is the expected way out of the loop.
        }

        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        while (await _timer.WaitForNextTickAsync(_stop.Token))
        {
            await FlushNowAsync();
        }
    }
}
