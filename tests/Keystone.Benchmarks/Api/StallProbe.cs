using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Text;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// Issue 26's stall hunt, inside a Keystone process of the goodput run (<c>--api --goodput</c>, the serve mode with
/// <c>KEYSTONE_BENCH_DIAG=1</c>): what the process did while a request was slow. Benchmark-only, nothing in the product.
/// It records, between two <see cref="Take"/>s (one per ladder step):
/// <list type="bullet">
/// <item>every HTTP request's time in the server (ASP.NET Core's activity) and every upstream call's (HttpClient's), so a
/// slow answer is placed in Keystone, in the provider leg or outside the process (client, mock, scheduler);</item>
/// <item>database commands and transactions through EF Core slower than 20 ms, with the thread kind (pool or not): a
/// SQLite call that meets the write lock sleeps 150 ms in Microsoft.Data.Sqlite's busy loop on the calling thread;</item>
/// <item>the thread pool's queueing delay (a work item queued every 10 ms from a thread of its own) with the pool's
/// thread count and queue length when it is late, and that thread's own oversleep (a stop of the whole process);</item>
/// <item>every garbage collection with its generation, reason and pause (the runtime's events);</item>
/// <item>per thread name, CPU time and time waiting for a CPU (<c>/proc/self/task/*/schedstat</c>).</item>
/// </list>
/// </summary>
internal sealed class StallProbe : IDisposable
{
    private const double SlowMs = 60;
    private readonly long _origin = Stopwatch.GetTimestamp();
    private readonly ConcurrentQueue<(double At, double Ms)> _requests = new();
    private readonly ConcurrentQueue<(double At, double Ms)> _upstream = new();
    private readonly ConcurrentQueue<string> _events = new();
    private readonly ActivityListener _activities;
    private readonly GcListener _gc;
    private readonly IDisposable _efSubscription;
    private readonly Thread _ticker;
    private volatile bool _stopping;
    private Dictionary<string, (long CpuTicks, long RunDelayNs)> _threadsBefore;

    public StallProbe()
    {
        _activities = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Microsoft.AspNetCore" or "System.Net.Http",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a =>
            {
                var at = Ms(Stopwatch.GetTimestamp()) - a.Duration.TotalMilliseconds;
                (a.Source.Name == "System.Net.Http" ? _upstream : _requests).Enqueue((at, a.Duration.TotalMilliseconds));
            },
        };
        ActivitySource.AddActivityListener(_activities);
        _gc = new GcListener(this);
        _efSubscription = DiagnosticListener.AllListeners.Subscribe(new EfObserver(this));
        _threadsBefore = ThreadTimes();
        _ticker = new Thread(Tick) { IsBackground = true, Name = "stall-probe" };
        _ticker.Start();
    }

    private double Ms(long timestamp) => Stopwatch.GetElapsedTime(_origin, timestamp).TotalMilliseconds;

    private double Now => Ms(Stopwatch.GetTimestamp());

    private void Note(string text) => _events.Enqueue(FormattableString.Invariant($"{Now,9:0} ms {text}"));

    /// <summary>A work item on the pool every 10 ms: how late it runs is how long a request's continuation waits for a thread.</summary>
    private void Tick()
    {
        while (!_stopping)
        {
            var before = Stopwatch.GetTimestamp();
            Thread.Sleep(10);
            var woke = Stopwatch.GetTimestamp();
            var overslept = Stopwatch.GetElapsedTime(before, woke).TotalMilliseconds - 10;
            if (overslept > 20)
            {
                Note(FormattableString.Invariant($"probe thread overslept {overslept:0} ms (the whole process or its CPU stopped)"));
            }

            ThreadPool.UnsafeQueueUserWorkItem(queued => PoolItemRan(Stopwatch.GetElapsedTime(queued).TotalMilliseconds), woke, preferLocal: false);
        }
    }

    private readonly Lock _poolLock = new();
    private (double At, double MaxLag, int Count, int Threads, long Queued) _poolStall;

    /// <summary>Late items one after another are one stall: noted once, with the longest wait, when an item runs on time again.</summary>
    private void PoolItemRan(double lag)
    {
        lock (_poolLock)
        {
            if (lag > 20)
            {
                _poolStall = _poolStall.Count == 0
                    ? (Now - lag, lag, 1, ThreadPool.ThreadCount, ThreadPool.PendingWorkItemCount)
                    : (_poolStall.At, Math.Max(_poolStall.MaxLag, lag), _poolStall.Count + 1, Math.Max(_poolStall.Threads, ThreadPool.ThreadCount),
                        Math.Max(_poolStall.Queued, ThreadPool.PendingWorkItemCount));
            }
            else if (_poolStall.Count > 0)
            {
                _events.Enqueue(FormattableString.Invariant(
                    $"{_poolStall.At,9:0} ms thread pool stalled: {_poolStall.Count} probe items waited up to {_poolStall.MaxLag:0} ms (pool threads {_poolStall.Threads}, up to {_poolStall.Queued} items queued)"));
                _poolStall = default;
            }
        }
    }

    /// <summary>What happened since the last call, as lines of text (the serve mode prints them after <c>DIAG</c>).</summary>
    public string Take()
    {
        var sb = new StringBuilder();
        var requests = Drain(_requests);
        var upstream = Drain(_upstream);
        var serverMs = requests.Select(r => r.Ms).ToArray();
        var upstreamMs = upstream.Select(r => r.Ms).ToArray();
        var slow = requests.Where(r => r.Ms > SlowMs).OrderBy(r => r.At).ToList();
        var server = Percentiles.Of(serverMs);
        var up = Percentiles.Of(upstreamMs);
        sb.Append(CultureInfo.InvariantCulture,
            $"requests {requests.Count}: in the server p50 {server.P50:0.0} p99 {server.P99:0.0} max {(serverMs.Length > 0 ? serverMs[^1] : 0):0.0} ms, {slow.Count} over {SlowMs:0} ms; upstream calls p50 {up.P50:0.0} p99 {up.P99:0.0} max {(upstreamMs.Length > 0 ? upstreamMs[^1] : 0):0.0} ms");
        sb.Append(CultureInfo.InvariantCulture, $"; pool threads {ThreadPool.ThreadCount}, {ThreadPool.CompletedWorkItemCount:N0} items done; GC pause total {GC.GetTotalPauseDuration().TotalMilliseconds:0} ms, gen0/1/2 {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}");
        sb.Append('|');
        // Slow requests grouped into bursts (starts within 50 ms of each other): a stall shows as one burst.
        foreach (var burst in Bursts(slow))
        {
            sb.Append(CultureInfo.InvariantCulture, $"{burst.Start,9:0} ms slow burst: {burst.Count} requests started within {burst.End - burst.Start:0} ms took up to {burst.Max:0} ms|");
        }

        while (_events.TryDequeue(out var e))
        {
            sb.Append(e).Append('|');
        }

        var now = ThreadTimes();
        var perName = now.Select(t => (Name: t.Key, Cpu: t.Value.CpuTicks - _threadsBefore.GetValueOrDefault(t.Key).CpuTicks,
                Wait: t.Value.RunDelayNs - _threadsBefore.GetValueOrDefault(t.Key).RunDelayNs))
            .GroupBy(t => TrimId(t.Name)).Select(g => (Name: g.Key, CpuMs: g.Sum(x => x.Cpu) * 10.0, WaitMs: g.Sum(x => x.Wait) / 1e6))
            .Where(g => g.CpuMs > 0 || g.WaitMs > 1).OrderByDescending(g => g.CpuMs).Take(12);
        sb.Append("threads (CPU ms / waited for a CPU ms): ");
        sb.AppendJoin(", ", perName.Select(g => FormattableString.Invariant($"{g.Name} {g.CpuMs:0}/{g.WaitMs:0}")));
        _threadsBefore = now;
        return sb.ToString();
    }

    private static List<(double At, double Ms)> Drain(ConcurrentQueue<(double At, double Ms)> queue)
    {
        var list = new List<(double, double)>();
        while (queue.TryDequeue(out var x))
        {
            list.Add(x);
        }

        return list;
    }

    private static IEnumerable<(double Start, double End, int Count, double Max)> Bursts(List<(double At, double Ms)> slow)
    {
        var i = 0;
        while (i < slow.Count)
        {
            var start = slow[i].At;
            var end = start;
            var max = 0.0;
            var count = 0;
            while (i < slow.Count && slow[i].At - end <= 50)
            {
                end = slow[i].At;
                max = Math.Max(max, slow[i].Ms);
                count++;
                i++;
            }

            yield return (start, end, count, max);
        }
    }

    /// <summary>Pool threads are named ".NET TP Worker" and the like; a number at the end makes them one group.</summary>
    private static string TrimId(string name) => name.TrimEnd('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ' ', '#');

    /// <summary>Per thread (by id and name): user + system clock ticks and nanoseconds waited on a run queue.</summary>
    private static Dictionary<string, (long CpuTicks, long RunDelayNs)> ThreadTimes()
    {
        var result = new Dictionary<string, (long, long)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                var close = stat.LastIndexOf(')');
                var name = stat[(open + 1)..close];
                var fields = stat[(close + 2)..].Split(' ');
                var cpu = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                var sched = File.ReadAllText(Path.Combine(dir, "schedstat")).Split(' ');
                var wait = long.Parse(sched[1], CultureInfo.InvariantCulture);
                result[name + " #" + Path.GetFileName(dir)] = (cpu, wait);
            }
            catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
            {
                // The thread ended while we looked.
            }
        }

        return result;
    }

    public void Dispose()
    {
        _stopping = true;
        _activities.Dispose();
        _gc.Dispose();
        _efSubscription.Dispose();
    }

    /// <summary>The runtime's GC events: each collection's generation, reason and pause (suspension to restart).</summary>
    private sealed class GcListener(StallProbe probe) : EventListener
    {
        private DateTime _suspended;
        private double _suspendMs;
        private string _current = "";

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, EventLevel.Informational, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            switch (e.EventName)
            {
                case "GCSuspendEEBegin_V1":
                    _suspended = e.TimeStamp;
                    _suspendMs = 0;
                    break;
                case "GCSuspendEEEnd_V1" when _suspended != default:
                    // Suspension waits for every thread running managed code to reach a safe point: a thread that is
                    // runnable but not on a CPU (a nice'd one on a busy box) makes the whole process wait here.
                    _suspendMs = (e.TimeStamp - _suspended).TotalMilliseconds;
                    break;
                case "GCStart_V2":
                    _current = FormattableString.Invariant($"gen{Field(e, "Depth")} ({ReasonOf(Field(e, "Reason"))}, {(Convert.ToInt32(Field(e, "Type"), CultureInfo.InvariantCulture) == 1 ? "background" : "blocking")})");
                    break;
                case "GCRestartEEEnd_V1" when _suspended != default:
                    var pause = (e.TimeStamp - _suspended).TotalMilliseconds;
                    _suspended = default;
                    if (pause >= 5)
                    {
                        probe.Note(FormattableString.Invariant($"GC {_current} paused the process {pause:0.0} ms ({_suspendMs:0.0} ms of it suspending the threads)"));
                    }

                    break;
            }
        }

        private static object? Field(EventWrittenEventArgs e, string name)
        {
            var i = e.PayloadNames?.IndexOf(name) ?? -1;
            return i >= 0 ? e.Payload![i] : null;
        }

        private static string ReasonOf(object? reason) => Convert.ToInt32(reason, CultureInfo.InvariantCulture) switch
        {
            0 => "small alloc",
            1 => "induced",
            2 => "low memory",
            3 => "empty",
            4 => "large alloc",
            5 => "out of space (SOH)",
            6 => "out of space (LOH)",
            7 => "induced, not forced",
            8 => "stress",
            9 => "low memory (induced)",
            var r => "reason " + r,
        };
    }

    /// <summary>EF Core's command and transaction events slower than 20 ms, with the thread they blocked.</summary>
    private sealed class EfObserver(StallProbe probe) : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
    {
        public void OnNext(DiagnosticListener listener)
        {
            if (listener.Name == "Microsoft.EntityFrameworkCore")
            {
                listener.Subscribe(this, name => name.EndsWith("CommandExecuted", StringComparison.Ordinal)
                    || name.EndsWith("TransactionStarted", StringComparison.Ordinal) || name.EndsWith("TransactionCommitted", StringComparison.Ordinal));
            }
        }

        public void OnNext(KeyValuePair<string, object?> e)
        {
            var duration = e.Value?.GetType().GetProperty("Duration")?.GetValue(e.Value) as TimeSpan?;
            if (duration is not { TotalMilliseconds: > 20 } d)
            {
                return;
            }

            var command = e.Value!.GetType().GetProperty("Command")?.GetValue(e.Value) as System.Data.Common.DbCommand;
            var what = command is null ? e.Key[(e.Key.LastIndexOf('.') + 1)..] : Flatten(command.CommandText);
            var thread = Thread.CurrentThread;
            probe.Note(FormattableString.Invariant($"database {d.TotalMilliseconds:0} ms on {(thread.IsThreadPoolThread ? "a pool thread" : "thread '" + thread.Name + "'")}: {what}"));
        }

        private static string Flatten(string sql)
        {
            var one = string.Join(' ', sql.Split((char[])['\n', '\r', ' '], StringSplitOptions.RemoveEmptyEntries));
            return one.Length > 90 ? one[..90] + "…" : one;
        }

        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }
    }
}
