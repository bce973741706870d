using System.Diagnostics;
using System.Globalization;
using System.Text;
using Keystone.Benchmarks.Api;
using Keystone.Gateway;
using Keystone.Testing.Upstreams;

namespace Keystone.Benchmarks;

/// <summary>
/// Per-call measurements BenchmarkDotNet does not give (it reports per-iteration statistics, not per-call p99):
/// latency percentiles, throughput, time to first token and memory at 1,000 concurrent streams.
/// </summary>
internal static class LoadReport
{
    private const int Warmup = 300;
    private const int Samples = 3000;
    private static readonly TimeSpan ThroughputWindow = TimeSpan.FromSeconds(4);
    private const int Concurrency = 16;

    public static async Task<string> RunAsync()
    {
        var md = new StringBuilder();
        await using var plain = await BenchmarkHost.StartAsync(recording: true, withCap: false);
        await using var quiet = await BenchmarkHost.StartAsync(recording: false, withCap: false);
        await using var capped = await BenchmarkHost.StartAsync(recording: true, withCap: true);

        // The latency series: direct, through the gateway, recording off, with a tenant cap.
        Func<Task>[] calls =
        [
            () => plain.Direct.CompleteAsync(BenchmarkHost.DirectRequest, CancellationToken.None),
            () => plain.Gateway.CompleteAsync(BenchmarkHost.Request, plain.Context, CancellationToken.None),
            () => quiet.Gateway.CompleteAsync(BenchmarkHost.Request, quiet.Context, CancellationToken.None),
            () => capped.Gateway.CompleteAsync(BenchmarkHost.Request, capped.Context, CancellationToken.None),
        ];
        var warmup = await SteadyState.WarmUpAsync([.. calls, () => FirstTokenDirectAsync(plain), () => FirstTokenGatewayAsync(plain)]);
        await plain.Recorder.FlushAsync(CancellationToken.None);
        await capped.Recorder.FlushAsync(CancellationToken.None);
        var latencyRuntime = RuntimeActivity.Start();

        // Interleaved: one call of each series per round, so a scheduling hiccup on this shared box lands on all series
        // alike instead of on whichever series happened to run during it.
        var series = await LatencyAsync(calls);
        var (direct, gateway, noRecording, withCap) = (series[0], series[1], series[2], series[3]);
        var latencyActivity = latencyRuntime.Stop();
        await plain.Recorder.FlushAsync(CancellationToken.None);
        await capped.Recorder.FlushAsync(CancellationToken.None);

        // Each series twice, alternating, best of two: the first window of whichever series runs first also pays for
        // tiered JIT and connection warm-up, which otherwise decides the ratio more than the gateway does.
        double directRps = 0, gatewayRps = 0, quietRps = 0;
        for (var round = 0; round < 2; round++)
        {
            directRps = Math.Max(directRps, await ThroughputAsync(() => plain.Direct.CompleteAsync(BenchmarkHost.DirectRequest, CancellationToken.None)));
            gatewayRps = Math.Max(gatewayRps, await ThroughputAsync(() => plain.Gateway.CompleteAsync(BenchmarkHost.Request, plain.Context, CancellationToken.None)));
            await plain.Recorder.FlushAsync(CancellationToken.None);
            quietRps = Math.Max(quietRps, await ThroughputAsync(() => quiet.Gateway.CompleteAsync(BenchmarkHost.Request, quiet.Context, CancellationToken.None)));
        }

        var ttft = await LatencyAsync(() => FirstTokenDirectAsync(plain), () => FirstTokenGatewayAsync(plain));
        var (directTtft, gatewayTtft) = (ttft[0], ttft[1]);
        await plain.Recorder.FlushAsync(CancellationToken.None);

        var memory = await ConcurrentStreamsMemoryAsync(plain, 1000);

        md.AppendLine(CultureInfo.InvariantCulture, $"First a {warmup}. Samples per series: {Samples} sequential calls after {Warmup} more warm-up rounds, the series interleaved call by call (runtime during them: {latencyActivity}); throughput: {Concurrency} concurrent callers for {ThroughputWindow.TotalSeconds:0} s, each series twice in turn, best of two.");
        md.AppendLine();
        md.AppendLine("| Measure | Direct (adapter → mock) | Through the gateway | Added by the gateway | Target | Met |");
        md.AppendLine("|---|---|---|---|---|---|");
        Row(md, "Latency p50 (no caps)", direct.P50, gateway.P50, "≤ 1 ms", gateway.P50 - direct.P50 <= 1);
        Row(md, "Latency p99 (no caps)", direct.P99, gateway.P99, "≤ 2 ms", gateway.P99 - direct.P99 <= 2);
        Row(md, "Latency p99 (no caps, recording off)", direct.P99, noRecording.P99, "(diagnostic)", noRecording.P99 - direct.P99 <= 2);
        Row(md, "Latency p50 (tenant cap, SQLite ledger)", direct.P50, withCap.P50, "≤ 1 ms", withCap.P50 - direct.P50 <= 1);
        Row(md, "Latency p99 (tenant cap, SQLite ledger)", direct.P99, withCap.P99, "≤ 2 ms", withCap.P99 - direct.P99 <= 2);
        Row(md, "Time to first token p50 (stream)", directTtft.P50, gatewayTtft.P50, "≤ 1 ms", gatewayTtft.P50 - directTtft.P50 <= 1);
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Throughput (calls/s) | {directRps:0} | {gatewayRps:0} | ratio {gatewayRps / directRps:0.00} | ≥ 0.4 | {(gatewayRps / directRps >= 0.4 ? "yes" : "no")} |");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Throughput, recording off (calls/s) | {directRps:0} | {quietRps:0} | ratio {quietRps / directRps:0.00} | (diagnostic) | — |");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Recording cost p50 (on vs off) | off {noRecording.P50:0.000} ms | on {gateway.P50:0.000} ms | {gateway.P50 - noRecording.P50:0.000} ms | ≤ 0.1 ms | {(gateway.P50 - noRecording.P50 <= 0.1 ? "yes" : "no")} |");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Memory, 1,000 concurrent streams | | managed heap +{memory.HeapMb:0.0} MB, working set +{memory.WorkingSetMb:0.0} MB (mock server in the same process) | {memory.HeapKbPerStream:0.0} KB heap per stream | (report) | — |");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, load average during the run (1/5/15 min): {LoadAverage()}.");
        return md.ToString();
    }

    private static string LoadAverage()
        => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static void Row(StringBuilder md, string name, double direct, double gateway, string target, bool met)
        => md.AppendLine(CultureInfo.InvariantCulture,
            $"| {name} | {direct:0.000} ms | {gateway:0.000} ms | {gateway - direct:0.000} ms | {target} | {(met ? "yes" : "no")} |");

    /// <summary>Per-call latency of each series, measured round-robin (the order rotates every round).</summary>
    private static async Task<Percentiles[]> LatencyAsync(params Func<Task>[] calls)
    {
        for (var i = 0; i < Warmup; i++)
        {
            foreach (var call in calls)
            {
                await call();
            }
        }

        var samples = calls.Select(_ => new double[Samples]).ToArray();
        for (var i = 0; i < Samples; i++)
        {
            for (var k = 0; k < calls.Length; k++)
            {
                var j = (i + k) % calls.Length;
                var start = Stopwatch.GetTimestamp();
                await calls[j]();
                samples[j][i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }

        return [.. samples.Select(Percentiles.Of)];
    }

    private static Task<double> ThroughputAsync(Func<Task> call) => ThroughputAsync(call, Concurrency, ThroughputWindow);

    /// <summary>Calls per second with <paramref name="concurrency"/> callers calling back to back for <paramref name="window"/>.</summary>
    internal static async Task<double> ThroughputAsync(Func<Task> call, int concurrency, TimeSpan window)
    {
        var count = 0L;
        using var stop = new CancellationTokenSource(window);
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await call();
                Interlocked.Increment(ref count);
            }
        })));
        return count / sw.Elapsed.TotalSeconds;
    }

    private static async Task FirstTokenDirectAsync(BenchmarkHost host)
    {
        await foreach (var e in host.Direct.StreamAsync(BenchmarkHost.DirectRequest, CancellationToken.None))
        {
            if (e is ProviderTextDelta { Text.Length: > 0 })
            {
                break;
            }
        }
    }

    private static async Task FirstTokenGatewayAsync(BenchmarkHost host)
    {
        await foreach (var e in host.Gateway.StreamAsync(BenchmarkHost.Request, host.Context, CancellationToken.None))
        {
            if (e is TextDelta)
            {
                break;
            }
        }
    }

    private sealed record Memory(double HeapMb, double WorkingSetMb, double HeapKbPerStream);

    /// <summary>Holds 1,000 streams open at once (the mock sends a chunk every 100 ms) and samples memory while all are open.</summary>
    private static async Task<Memory> ConcurrentStreamsMemoryAsync(BenchmarkHost host, int streams)
    {
        var events = MockOpenAiServer.StreamEvents("gpt-4o-mini", [.. Enumerable.Range(0, 30).Select(i => $" token{i}")], 20, 30);
        host.Upstream.DefaultReply = _ => MockReply.Sse(events, TimeSpan.FromMilliseconds(100));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var heapBefore = GC.GetTotalMemory(true);
        var wsBefore = Environment.WorkingSet;
        var opened = 0;
        var allOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, streams).Select(_ => Task.Run(async () =>
        {
            var first = true;
            await foreach (var e in host.Gateway.StreamAsync(BenchmarkHost.Request, host.Context, CancellationToken.None))
            {
                if (first && e is TextDelta)
                {
                    first = false;
                    if (Interlocked.Increment(ref opened) == streams)
                    {
                        allOpen.TrySetResult();
                    }
                }
            }
        })).ToList();
        await allOpen.Task.WaitAsync(TimeSpan.FromMinutes(2));
        var heapDuring = GC.GetTotalMemory(false);
        var wsDuring = Environment.WorkingSet;
        release.TrySetResult();
        await Task.WhenAll(tasks);
        var heapMb = (heapDuring - heapBefore) / 1024.0 / 1024.0;
        return new Memory(heapMb, (wsDuring - wsBefore) / 1024.0 / 1024.0, (heapDuring - heapBefore) / 1024.0 / streams);
    }
}
