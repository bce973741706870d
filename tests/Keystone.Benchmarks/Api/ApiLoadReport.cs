using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// The HTTP API (issue 4) measured end to end: raw HTTP with keep-alive to the real app on Kestrel versus the same
/// body sent straight to the loopback mock, in one run. Added latency, throughput ratio, streaming time to first
/// token, and open-loop load at fixed rates against a mock that takes 20 ms per answer.
/// </summary>
internal static class ApiLoadReport
{
    private const int Warmup = 500;
    private const int Samples = 3000;
    private const int Concurrency = 16;
    private static readonly TimeSpan ThroughputWindow = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StepLength = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan SlowUpstream = TimeSpan.FromMilliseconds(20);
    private static readonly int[] Rates = [100, 200, 400, 800, 1000, 1200, 1500, 2000];
    private const double P99Limit = 50;

    private static readonly byte[] Body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
    {
        model = "bench",
        messages = new object[]
        {
            new { role = "system", content = "You are a concise assistant." },
            new { role = "user", content = "Summarize what an LLM gateway does." },
        },
        max_tokens = 64,
    }));

    private static readonly byte[] StreamBody = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
    {
        model = "bench",
        messages = new object[]
        {
            new { role = "system", content = "You are a concise assistant." },
            new { role = "user", content = "Summarize what an LLM gateway does." },
        },
        max_tokens = 64,
        stream = true,
    }));

    /// <summary>
    /// Only the interleaved latency series and the runtime's activity during them (<c>--api --latency [seconds]</c>): a
    /// quick diagnostic for the p99 rows. Warm-up is <paramref name="warmupSeconds"/> of traffic when given, else until
    /// the JIT is quiet (as in the full report), so the two can be compared.
    /// </summary>
    public static async Task LatencyOnlyAsync(double? warmupSeconds, TextWriter progress)
    {
        await using var host = await ApiBenchmarkHost.StartAsync();
        using var client = ApiBenchmarkHost.CreateClient();
        var calls = new Func<Task>[]
        {
            () => CallAsync(client, host, false, Body, null),
            () => CallAsync(client, host, true, Body, null),
        };
        var warmup = warmupSeconds is { } seconds
            ? await SteadyState.WarmUpAsync(calls, min: TimeSpan.FromSeconds(seconds), max: TimeSpan.FromSeconds(seconds))
            : await SteadyState.WarmUpAsync(calls);
        await host.Recorder.FlushAsync(CancellationToken.None);
        var runtime = RuntimeActivity.Start();
        var series = await InterleavedLatencyAsync(calls);
        var activity = runtime.Stop();
        progress.WriteLine($"{warmup}");
        progress.WriteLine($"direct p50 {series[0].P50:0.000} p99 {series[0].P99:0.000}; keystone p50 {series[1].P50:0.000} p99 {series[1].P99:0.000}; added p50 {series[1].P50 - series[0].P50:0.000} p99 {series[1].P99 - series[0].P99:0.000}; during the series: {activity}");

        // After the series (an event listener makes the runtime compile and allocate on its own): what a call allocates.
        foreach (var (name, call) in new[] { ("direct", calls[0]), ("keystone", calls[1]) })
        {
            await host.Recorder.FlushAsync(CancellationToken.None);
            var alone = RuntimeActivity.Start();
            for (var i = 0; i < 2000; i++)
            {
                await call();
            }

            // Includes what the recorder allocates for these calls while they run (it writes as they come).
            progress.WriteLine($"{name}: {alone.AllocatedBytes / 2000.0 / 1024:0.0} KB allocated per call (client, server and mock together)");
        }

        using var sampler = new AllocationSampler();
        for (var i = 0; i < 10_000; i++)
        {
            await calls[1]();
        }

        progress.WriteLine("types allocated by calls through Keystone (allocation-sampled, share of bytes):");
        foreach (var (type, share) in sampler.Top(25))
        {
            progress.WriteLine($"  {share:P1} {type}");
        }
    }

    /// <summary>Closed-loop traffic through Keystone only, for a profiler to attach to (<c>--api --profile</c>).</summary>
    /// <param name="path"><c>keystone</c> (default), or <c>direct</c> / <c>bare</c> to profile a baseline the same way.</param>
    public static async Task ProfileAsync(TimeSpan length, bool recording, string path, TextWriter progress)
    {
        await using var host = await ApiBenchmarkHost.StartAsync();
        await using var bare = await BareProxy.StartAsync(new Uri(host.Upstream.BaseUrl, "chat/completions"));
        using var client = ApiBenchmarkHost.CreateClient();
        host.Recording(recording);
        Func<Task> call = path switch
        {
            "direct" => () => CallAsync(client, host, false, Body, null),
            "bare" => () => BareCallAsync(client, bare),
            _ => () => CallAsync(client, host, true, Body, null),
        };
        progress.WriteLine(await SteadyState.WarmUpAsync([call]));
        progress.WriteLine($"profiling: {Concurrency} callers, path {path}, for {length.TotalSeconds:0} s (recording {(recording ? "on" : "off")}), process {Environment.ProcessId}");
        var count = 0L;
        var cpuBefore = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        using var stop = new CancellationTokenSource(length);
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await call();
                Interlocked.Increment(ref count);
            }
        })));
        // Process CPU (user + system) per request, client and mock included: steadier than req/s on a VM whose
        // speed moves, and the number that decides the throughput ratio on two shared cores.
        var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        progress.WriteLine($"{count / length.TotalSeconds:0} req/s, {cpu.TotalMicroseconds / Math.Max(1, count):0} µs of process CPU per request");
    }

    /// <summary>
    /// The throughput series alone (<c>--api --throughput [rounds]</c>): after the warm-up, each round runs direct, bare
    /// proxy, Keystone and Keystone with recording off back to back and prints their ratios, so settings can be compared
    /// in minutes instead of a full run's five.
    /// </summary>
    public static async Task ThroughputOnlyAsync(int rounds, TextWriter progress)
    {
        await using var host = await ApiBenchmarkHost.StartAsync();
        await using var bare = await BareProxy.StartAsync(new Uri(host.Upstream.BaseUrl, "chat/completions"));
        using var client = ApiBenchmarkHost.CreateClient();
        progress.WriteLine(await SteadyState.WarmUpAsync(
        [
            () => CallAsync(client, host, false, Body, null),
            () => BareCallAsync(client, bare),
            () => CallAsync(client, host, true, Body, null),
        ]));
        for (var round = 1; round <= rounds; round++)
        {
            await host.Recorder.FlushAsync(CancellationToken.None);
            var direct = await ThroughputAsync(() => CallAsync(client, host, false, Body, null));
            var bareRps = await ThroughputAsync(() => BareCallAsync(client, bare));
            var keystone = await ThroughputAsync(() => CallAsync(client, host, true, Body, null));
            var backlog = host.Recorder.Enqueued - host.Recorder.Written - host.Recorder.Lost;
            await host.Recorder.FlushAsync(CancellationToken.None);
            host.Recording(false);
            var quiet = await ThroughputAsync(() => CallAsync(client, host, true, Body, null));
            host.Recording(true);
            progress.WriteLine(FormattableString.Invariant(
                $"round {round}: direct {direct:0} req/s; bare proxy {bareRps:0} ({bareRps / direct:0.00}); keystone {keystone:0} ({keystone / direct:0.00}, recorder {backlog} behind); recording off {quiet:0} ({quiet / direct:0.00})"));
        }
    }

    public static async Task<string> RunAsync(TextWriter progress)
    {
        var host = await ApiBenchmarkHost.StartAsync();
        try
        {
            return await RunAsync(host, progress);
        }
        finally
        {
            // The recorder may still be catching up after the heaviest step: give it time before the database goes.
            using var drain = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            try
            {
                await host.Recorder.FlushAsync(drain.Token);
            }
            catch (OperationCanceledException)
            {
                progress.WriteLine($"recorder still {host.Recorder.Enqueued - host.Recorder.Written - host.Recorder.Lost} calls behind after 2 minutes");
            }

            await host.DisposeAsync();
        }
    }

    private static async Task<string> RunAsync(ApiBenchmarkHost host, TextWriter progress)
    {
        var md = new StringBuilder();
        var loadBefore = LoadAverage();
        using var client = ApiBenchmarkHost.CreateClient();
        var overheads = new ConcurrentBag<double>();

        progress.WriteLine($"app at {host.AppOrigin}, mock at {host.Upstream.BaseUrl}");
        await using var bare = await BareProxy.StartAsync(new Uri(host.Upstream.BaseUrl, "chat/completions"));
        var warmup = await SteadyState.WarmUpAsync(
        [
            () => CallAsync(client, host, false, Body, null),
            () => BareCallAsync(client, bare),
            () => CallAsync(client, host, true, Body, null),
            () => UnrecordedCallAsync(client, host),
            () => FirstTokenAsync(client, host, false),
            () => FirstTokenAsync(client, host, true),
        ]);
        await host.Recorder.FlushAsync(CancellationToken.None);
        progress.WriteLine(warmup);
        var latencyRuntime = RuntimeActivity.Start();
        // The three series interleaved call by call (order rotating each round), so a hiccup of the shared machine
        // lands on every series alike instead of on whichever series ran at that moment.
        var series = await InterleavedLatencyAsync(
            () => CallAsync(client, host, false, Body, null),
            () => CallAsync(client, host, true, Body, overheads),
            () => UnrecordedCallAsync(client, host));
        var (direct, keystone, keystoneUnrecorded) = (series[0], series[1], series[2]);
        var latencyActivity = latencyRuntime.Stop();
        progress.WriteLine($"during the latency series: {latencyActivity}");
        progress.WriteLine($"direct latency p50 {direct.P50:0.000} p99 {direct.P99:0.000}");
        progress.WriteLine($"keystone latency p50 {keystone.P50:0.000} p99 {keystone.P99:0.000}");
        progress.WriteLine($"keystone latency, recording off p50 {keystoneUnrecorded.P50:0.000} p99 {keystoneUnrecorded.P99:0.000}");
        var serverOverhead = Percentiles.Of([.. overheads]);

        var bareRps = await ThroughputAsync(() => BareCallAsync(client, bare));
        var directRps = await ThroughputAsync(() => CallAsync(client, host, false, Body, null));
        var keystoneRps = await ThroughputAsync(() => CallAsync(client, host, true, Body, null));
        var throughputBacklog = host.Recorder.Enqueued - host.Recorder.Written - host.Recorder.Lost;
        progress.WriteLine($"throughput direct {directRps:0} bare proxy {bareRps:0} keystone {keystoneRps:0} (recorder backlog at the end {throughputBacklog})");

        // Diagnostic: the same with the recorder off, to show what the embedded SQLite recorder costs on 2 cores. The
        // backlog of the window above is written first, or its writing would land in this window.
        await host.Recorder.FlushAsync(CancellationToken.None);
        host.Recording(false);
        var keystoneQuietRps = await ThroughputAsync(() => CallAsync(client, host, true, Body, null));
        host.Recording(true);
        progress.WriteLine($"throughput keystone, recording off {keystoneQuietRps:0}");

        var directTtft = await SampleAsync(() => FirstTokenAsync(client, host, false));
        var keystoneTtft = await SampleAsync(() => FirstTokenAsync(client, host, true));
        progress.WriteLine($"ttft direct {directTtft.P50:0.000} keystone {keystoneTtft.P50:0.000}");

        host.Upstream.AnswerDelay = SlowUpstream;
        await OpenLoopAsync(client, host, true, 200, TimeSpan.FromSeconds(3)); // warm the connection pool at this shape
        var steps = new List<(int Rate, Step Direct, Step Keystone)>();
        var best = 0;
        foreach (var rate in Rates)
        {
            var d = await OpenLoopAsync(client, host, false, rate, StepLength);
            var k = await OpenLoopAsync(client, host, true, rate, StepLength);
            var backlog = host.Recorder.Enqueued - host.Recorder.Written - host.Recorder.Lost;
            progress.WriteLine($"{rate}/s: direct {d.Achieved:0}/s p50 {d.P50:0.0} p99 {d.P99:0.0} err {d.Errors}; keystone {k.Achieved:0}/s p50 {k.P50:0.0} p99 {k.P99:0.0} err {k.Errors}; recorder backlog {backlog}");
            steps.Add((rate, d, k with { RecorderBacklog = backlog }));
            // Each step starts with the recorder caught up, so one step's backlog does not load the next.
            await host.Recorder.FlushAsync(CancellationToken.None);
            if (k.Steady(rate))
            {
                best = rate;
            }

            // Past saturation more steps only queue up: stop once Keystone cannot keep up with the offered rate.
            if (k.Achieved < rate * 0.9 || k.Errors > 0)
            {
                break;
            }
        }

        host.Recording(false);
        var quietStep = await OpenLoopAsync(client, host, true, 1000, StepLength);
        host.Recording(true);
        progress.WriteLine($"1000/s recording off: keystone {quietStep.Achieved:0}/s p50 {quietStep.P50:0.0} p99 {quietStep.P99:0.0} err {quietStep.Errors}");

        md.AppendLine(CultureInfo.InvariantCulture,
            $"Raw HTTP/1.1 with keep-alive (`HttpClient`, `SocketsHttpHandler`), the same JSON body to the app's `/v1/chat/completions` (Bearer key) and straight to the mock's. "
            + $"First a {warmup}. Latency: {Samples} sequential calls per series, interleaved call by call, after {Warmup} more warm-up rounds (runtime during the series: {latencyActivity}); throughput: {Concurrency} concurrent callers for {ThroughputWindow.TotalSeconds:0} s; mock answers at once for these.");
        md.AppendLine();
        md.AppendLine("| Measure | Direct (client → mock) | Through Keystone (client → app → mock) | Added by Keystone | Target | Met |");
        md.AppendLine("|---|---|---|---|---|---|");
        Row(md, "Latency p50", direct.P50, keystone.P50, 1, "≤ 1 ms");
        Row(md, "Latency p99", direct.P99, keystone.P99, 2, "≤ 2 ms");
        Row(md, "Latency p99, recording off", direct.P99, keystoneUnrecorded.P99, double.NaN, "(diagnostic)");
        Row(md, "Time to first token p50 (stream)", directTtft.P50, keystoneTtft.P50, 1, "≤ 1 ms");
        Row(md, "Time to first token p99 (stream)", directTtft.P99, keystoneTtft.P99, double.NaN, "(report)");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Throughput, {Concurrency} callers (req/s; recorder backlog at the window's end: {throughputBacklog:N0} calls) | {directRps:0} | {keystoneRps:0} | ratio {keystoneRps / directRps:0.00} | ≥ 0.4 | {(keystoneRps / directRps >= 0.4 ? "yes" : "no")} |");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Throughput, {Concurrency} callers, through a bare pass-through proxy instead (baseline: the second HTTP exchange alone, no auth / parsing / gateway / recording) | {directRps:0} | {bareRps:0} | ratio {bareRps / directRps:0.00} | (ceiling for any HTTP proxy here) | — |");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Throughput, {Concurrency} callers, recording off (diagnostic) | {directRps:0} | {keystoneQuietRps:0} | ratio {keystoneQuietRps / directRps:0.00} | (diagnostic) | — |");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| `X-Gateway-Overhead-Ms` (server's own view of the gateway pipeline) | | p50 {serverOverhead.P50:0.000} ms, p99 {serverOverhead.P99:0.000} ms | | (diagnostic) | — |");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"Open-loop load (requests sent on a fixed schedule whatever the answers do; latency from each request's scheduled send time, so a stalled server is not hidden), mock takes {SlowUpstream.TotalMilliseconds:0} ms per answer, {StepLength.TotalSeconds:0} s per step, stopping once Keystone falls under 90 % of the offered rate or errors; a step is steady when p99 ≤ {P99Limit:0} ms, no errors and at least 95 % of the offered rate is achieved:");
        md.AppendLine();
        md.AppendLine("| Offered (req/s) | Direct: achieved / p50 / p99 | Through Keystone: achieved (req/s) | p50 | p99 | errors | Recorder backlog at step end | Steady (p99 ≤ 50 ms) |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var (rate, d, k) in steps)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {rate:N0} | {d.Achieved:N0} / {d.P50:0.0} ms / {d.P99:0.0} ms | {k.Achieved:N0} | {k.P50:0.0} ms | {k.P99:0.0} ms | {k.Errors} | {k.RecorderBacklog:N0} calls | {(k.Steady(rate) ? "yes" : "no")} |");
        }

        md.AppendLine(CultureInfo.InvariantCulture,
            $"| 1,000, recording off (diagnostic) | | {quietStep.Achieved:N0} | {quietStep.P50:0.0} ms | {quietStep.P99:0.0} ms | {quietStep.Errors} | — | {(quietStep.Steady(1000) ? "yes" : "no")} |");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"Highest steady rate through Keystone: **{best:N0} req/s** (goal ≥ 1,000 req/s; {(best >= 1000 ? "met" : "not met")}).");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"Machine: {Environment.ProcessorCount} cores, {RuntimeInfo()}; load average (1/5/15 min) before the run {loadBefore}, after {LoadAverage()}. Client, app and mock share the process and the cores.");
        return md.ToString();
    }

    private static string RuntimeInfo() => $".NET {Environment.Version}, server GC {System.Runtime.GCSettings.IsServerGC}";

    private static string LoadAverage()
        => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static void Row(StringBuilder md, string name, double direct, double keystone, double limit, string target)
    {
        var added = keystone - direct;
        var met = double.IsNaN(limit) ? "—" : added <= limit ? "yes" : "no";
        md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {direct:0.000} ms | {keystone:0.000} ms | {added:0.000} ms | {target} | {met} |");
    }

    /// <summary>The same body through <see cref="BareProxy"/>.</summary>
    private static async Task BareCallAsync(HttpClient client, BareProxy bare)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, bare.Url) { Content = new ByteArrayContent(Body), Version = System.Net.HttpVersion.Version11 };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"bare proxy answered {(int)response.StatusCode}");
        }
    }

    /// <summary>A call through Keystone with recording off (diagnostic series; other callers' calls at that moment are not recorded either).</summary>
    private static async Task UnrecordedCallAsync(HttpClient client, ApiBenchmarkHost host)
    {
        host.Recording(false);
        try
        {
            await CallAsync(client, host, true, Body, null);
        }
        finally
        {
            host.Recording(true);
        }
    }

    private static async Task CallAsync(HttpClient client, ApiBenchmarkHost host, bool throughKeystone, byte[] body, ConcurrentBag<double>? overheads)
    {
        using var request = host.ChatRequest(throughKeystone, body);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{(throughKeystone ? "Keystone" : "mock")} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        if (overheads is not null && response.Headers.TryGetValues("X-Gateway-Overhead-Ms", out var values)
            && double.TryParse(values.First(), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms))
        {
            overheads.Add(ms);
        }
    }

    /// <summary>
    /// Sends a streamed request and returns the time until the first chunk with non-empty content was read; reads the
    /// stream to its end so that connections are reused on both paths as in normal use.
    /// </summary>
    private static async Task<double> FirstTokenAsync(HttpClient client, ApiBenchmarkHost host, bool throughKeystone)
    {
        var start = Stopwatch.GetTimestamp();
        using var request = host.ChatRequest(throughKeystone, StreamBody);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{(throughKeystone ? "Keystone" : "mock")} answered {(int)response.StatusCode} to a stream.");
        }

        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream, Encoding.UTF8);
        double? firstToken = null;
        var done = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (firstToken is null && line.StartsWith("data: {", StringComparison.Ordinal) && HasContent(line.AsSpan(6)))
            {
                firstToken = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }

            done |= line == "data: [DONE]";
        }

        return firstToken is { } ms && done ? ms : throw new InvalidOperationException("The stream ended without a token or without [DONE].");
    }

    private static bool HasContent(ReadOnlySpan<char> json)
    {
        using var doc = JsonDocument.Parse(json.ToString());
        return doc.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
            && choices[0].TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var content)
            && content.ValueKind == JsonValueKind.String && content.GetString()!.Length > 0;
    }

    /// <summary>Sequential samples of several calls taken in turn (the order rotating each round), after a warm-up.</summary>
    private static async Task<Percentiles[]> InterleavedLatencyAsync(params Func<Task>[] calls)
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
            for (var j = 0; j < calls.Length; j++)
            {
                var k = (i + j) % calls.Length;
                var start = Stopwatch.GetTimestamp();
                await calls[k]();
                samples[k][i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }

        return [.. samples.Select(Percentiles.Of)];
    }

    /// <summary>Sequential samples of a call that measures itself, after a warm-up.</summary>
    private static async Task<Percentiles> SampleAsync(Func<Task<double>> call)
    {
        for (var i = 0; i < Warmup; i++)
        {
            await call();
        }

        var samples = new double[Samples];
        for (var i = 0; i < Samples; i++)
        {
            samples[i] = await call();
        }

        return Percentiles.Of(samples);
    }

    private static async Task<double> ThroughputAsync(Func<Task> call)
    {
        // A short warm-up at this concurrency so both series start with an open connection per caller.
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await call();
            }
        })));
        return await LoadReport.ThroughputAsync(call, Concurrency, ThroughputWindow);
    }

    private sealed record Step(double Achieved, double P50, double P99, int Errors, int Sent)
    {
        public long RecorderBacklog { get; init; }

        public bool Steady(int offered) => Errors == 0 && P99 <= P99Limit && Achieved >= offered * 0.95;
    }

    /// <summary>
    /// Sends at <paramref name="rate"/> per second for <paramref name="length"/> on a fixed schedule (request i is due at
    /// i / rate), never waiting for answers; each latency counts from the request's due time.
    /// </summary>
    private static async Task<Step> OpenLoopAsync(HttpClient client, ApiBenchmarkHost host, bool throughKeystone, int rate, TimeSpan length)
    {
        var total = (int)(rate * length.TotalSeconds);
        var latencies = new double[total];
        var errors = 0;
        var inflight = new List<Task>(total);
        var origin = Stopwatch.GetTimestamp();
        var ticksPerRequest = Stopwatch.Frequency / (double)rate;
        var sent = 0;
        while (sent < total)
        {
            var due = (int)Math.Min(total, (Stopwatch.GetTimestamp() - origin) / ticksPerRequest + 1);
            for (; sent < due; sent++)
            {
                var index = sent;
                var dueAt = origin + (long)(index * ticksPerRequest);
                inflight.Add(Task.Run(async () =>
                {
                    try
                    {
                        await CallAsync(client, host, throughKeystone, Body, null);
                        latencies[index] = Stopwatch.GetElapsedTime(dueAt).TotalMilliseconds;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or TaskCanceledException)
                    {
                        Interlocked.Increment(ref errors);
                        latencies[index] = double.NaN;
                    }
                }));
            }

            await Task.Delay(1);
        }

        await Task.WhenAll(inflight);
        var elapsed = Stopwatch.GetElapsedTime(origin).TotalSeconds;
        var ok = latencies.Where(l => !double.IsNaN(l)).ToArray();
        var p = Percentiles.Of(ok);
        return new Step(ok.Length / elapsed, p.P50, p.P99, errors, total);
    }
}
