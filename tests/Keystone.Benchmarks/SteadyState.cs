using System.Diagnostics;
using System.Globalization;

namespace Keystone.Benchmarks;

/// <summary>
/// Warm-up until the runtime is in its steady state. A server runs for days; its first seconds are spent in tiered
/// JIT compilation (thousands of methods recompiled on a background thread, with the runtime suspended now and then
/// to patch them in) and in the first garbage collections sizing their budgets. Measured in those seconds, a p99 is
/// the JIT's, not the code's (an HTTP API run: +3.7 ms added p99 with 3,391 methods jitted during the series, +1.2 ms
/// after 30 s of warm-up with 110), so every latency and throughput series starts after this.
/// </summary>
internal static class SteadyState
{
    private static readonly TimeSpan Slice = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Runs <paramref name="calls"/> round-robin in slices of two seconds, alternating <paramref name="callers"/>
    /// concurrent callers with one sequential caller (the latency series are sequential, the throughput windows
    /// concurrent, and each shape promotes some methods of its own), until two slices in a row, one of each shape,
    /// each compile at most <paramref name="quietMethods"/> methods; at least <paramref name="min"/> and at most
    /// <paramref name="max"/> long. Returns a line describing the warm-up for the report.
    /// </summary>
    public static async Task<string> WarmUpAsync(IReadOnlyList<Func<Task>> calls, int callers = 4, int quietMethods = 5,
        TimeSpan? min = null, TimeSpan? max = null)
    {
        var least = min ?? TimeSpan.FromSeconds(10);
        var most = max ?? TimeSpan.FromSeconds(120);
        var started = Stopwatch.GetTimestamp();
        var firstCount = System.Runtime.JitInfo.GetCompiledMethodCount();
        long lastSlice = long.MaxValue, previousSlice;
        var slice = 0;
        do
        {
            previousSlice = lastSlice;
            var before = System.Runtime.JitInfo.GetCompiledMethodCount();
            using var stop = new CancellationTokenSource(Slice);
            var concurrent = slice++ % 2 == 0 ? callers : 1;
            await Task.WhenAll(Enumerable.Range(0, concurrent).Select(c => Task.Run(async () =>
            {
                for (var i = c; !stop.IsCancellationRequested; i++)
                {
                    await calls[i % calls.Count]();
                }
            })));
            lastSlice = System.Runtime.JitInfo.GetCompiledMethodCount() - before;
        }
        while (Stopwatch.GetElapsedTime(started) < most
            && (Stopwatch.GetElapsedTime(started) < least || lastSlice > quietMethods || previousSlice > quietMethods));

        var took = Stopwatch.GetElapsedTime(started);
        return string.Create(CultureInfo.InvariantCulture,
            $"warm-up {took.TotalSeconds:0} s of traffic on every measured path ({callers} callers and 1 caller in turn) until two {Slice.TotalSeconds:0}-second slices in a row compiled ≤ {quietMethods} methods each "
            + $"({System.Runtime.JitInfo.GetCompiledMethodCount() - firstCount:N0} methods jitted during it, {previousSlice} and {lastSlice} in its last two slices{(took >= most ? "; stopped at the time limit" : "")})");
    }
}
