using System.Collections.Concurrent;

namespace Keystone.Data;

/// <summary>
/// A named background thread that runs one write every interval and at once when a caller asks for one
/// (<see cref="WriteNowAsync"/>), answering every caller that asked before the write began. For the in-memory state kept
/// behind the request path (the SQLite budget counters, the API keys' last-used times): the write blocks on this thread,
/// never on the thread pool.
/// </summary>
/// <remarks>
/// Why a thread of its own (issue 26, decision 59): Microsoft.Data.Sqlite's "async" calls run synchronously, and one that
/// meets the write lock (held by the call recorder's batches and the trace indexer's passes) sleeps 150 ms in its busy
/// loop on the calling thread. On a pool thread, several times a second, that stalled every request in flight. Blocking on
/// the write is what this thread is for, and a caller waiting for a write holds no pool thread.
/// </remarks>
public sealed class WriterThread : IAsyncDisposable
{
    private readonly Func<CancellationToken, Task> _write;
    private readonly Func<TimeSpan> _interval;
    private readonly Action<Exception> _failed;
    private readonly CancellationTokenSource _stop = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly ConcurrentQueue<TaskCompletionSource> _asked = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _closing;

    /// <param name="name">The thread's name (at most 15 characters: Linux shows no more).</param>
    /// <param name="interval">The time between two periodic writes, read before each wait.</param>
    /// <param name="write">The write; never run twice at once by this class (callers that also write directly lock).</param>
    /// <param name="failed">Told about a periodic write that failed (it is tried again at the next interval).</param>
    public WriterThread(string name, Func<TimeSpan> interval, Func<CancellationToken, Task> write, Action<Exception> failed)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(name.Length, 15, nameof(name));
        (_write, _interval, _failed) = (write, interval, failed);
        _thread = new Thread(() =>
        {
            try
            {
                Loop();
            }
            finally
            {
                // Whoever asked for a write while the thread was ending gets it here; asks after this write themselves.
                _closing = true;
                AnswerAskedAsync().GetAwaiter().GetResult();
                _done.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        _thread.Start();
    }

    /// <summary>Whether the caller is this thread (a write asked from inside a write runs at once).</summary>
    public bool IsCurrent => Thread.CurrentThread == _thread;

    /// <summary>
    /// Runs a write on this thread and waits for it; once the thread has ended (the host stopping), or when called from
    /// the thread itself, the caller writes.
    /// </summary>
    public async Task WriteNowAsync(CancellationToken ct)
    {
        if (IsCurrent || _closing)
        {
            await _write(ct);
            return;
        }

        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _asked.Enqueue(asked);
        if (_closing)
        {
            // The thread may have answered its last asks before this one was queued.
            await AnswerAskedAsync();
        }
        else
        {
            _wake.Set();
        }

        await asked.Task.WaitAsync(ct);
    }

    /// <summary>Ends the loop after the write in progress; asks that arrive later are written by their callers.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _done.Task;
    }

    /// <summary>
    /// Stops the thread. The token source and the event are left to the collector: a late <see cref="WriteNowAsync"/>
    /// (a budget read while the host stops) may still touch them, and disposing twice must stay harmless.
    /// </summary>
    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>Runs one write for every caller waiting for one.</summary>
    private async Task AnswerAskedAsync()
    {
        var waiting = new List<TaskCompletionSource>();
        while (_asked.TryDequeue(out var a))
        {
            waiting.Add(a);
        }

        if (waiting.Count == 0)
        {
            return;
        }

        try
        {
            await _write(CancellationToken.None);
            waiting.ForEach(w => w.TrySetResult());
        }
        catch (Exception ex)
        {
            waiting.ForEach(w => w.TrySetException(ex));
        }
    }

    private void Loop()
    {
        var stop = _stop.Token;
        WaitHandle[] handles = [stop.WaitHandle, _wake];
        try
        {
            while (WaitHandle.WaitAny(handles, _interval()) != 0)
            {
                try
                {
                    if (_asked.IsEmpty)
                    {
                        _write(stop).GetAwaiter().GetResult();
                    }
                    else
                    {
                        AnswerAskedAsync().GetAwaiter().GetResult();
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    _failed(ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: the owner writes the last changes.
        }
        catch (ObjectDisposedException)
        {
            // Disposed while waiting: nothing left to write from here.
        }
    }
}
