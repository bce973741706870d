using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// Issue 26: Keystone against the physical limit and a real peer, in one run on one box (<c>--api --peers [--smoke]</c>).
/// Five paths to the same loopback mock, each gateway a process of its own so its CPU time and memory are its own:
/// direct (the mock), a bare pass-through proxy (one extra HTTP hop and nothing else), Keystone, Keystone with
/// recording off (<c>Gateway:RecordingDisabledForBenchmarks</c>) and Portkey's gateway (<see cref="PortkeyGateway"/>).
/// The payload is realistic: a 2 KB system prompt and a 1,000-character answer, every request unique (a cache miss).
/// Series are interleaved (rounds in rotating order, latency call by call) so a hiccup of the shared machine lands on
/// every path alike. The client and the mock share this process; the gateways' CPU is read from /proc.
/// </summary>
internal static partial class PeerReport
{
    private sealed record Settings(int Rounds, TimeSpan Window, TimeSpan WarmUp, int LatencySamples, int FirstTokenSamples,
        int[] Rates, TimeSpan Step, int[] StreamLevels, TimeSpan StreamsOpenWithin)
    {
        public static readonly Settings Full = new(3, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(4), 2000, 300,
            [500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000], TimeSpan.FromSeconds(5), [100, 250, 500, 1000], TimeSpan.FromSeconds(30));

        /// <summary>One round and a shorter ladder (about 3 minutes): to compare settings (GC modes) without a full run.</summary>
        public static readonly Settings Quick = new(1, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2), 300, 30,
            [500, 1000, 2000, 4000], TimeSpan.FromSeconds(3), [100, 250, 500, 1000], TimeSpan.FromSeconds(30));

        /// <summary>Every path once, as briefly as it still means something: the CI smoke test (under a minute).</summary>
        public static readonly Settings Smoke = new(1, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(500), 20, 5,
            [50], TimeSpan.FromSeconds(1), [20], TimeSpan.FromSeconds(30));
    }

    private const int Callers = 16;
    private const double P99Limit = 50;
    private static readonly TimeSpan SlowUpstream = TimeSpan.FromMilliseconds(20);
    private const string Hold = "[hold]";

    /// <summary>A system prompt of 2 KB: policy text as a support assistant would carry.</summary>
    internal static readonly string SystemPrompt = BuildSystemPrompt();

    /// <summary>The mock's answer: 1,000 characters.</summary>
    internal static readonly string Answer = BuildAnswer();

    private static long _nonce;

    private sealed class Target
    {
        public required string Name { get; init; }
        public required Uri Url { get; init; }
        public required string Model { get; init; }
        public Action<HttpRequestMessage> Address { get; init; } = _ => { };
        public int? ProcessId { get; init; }
        public ChildTarget? Child { get; init; }
        public bool Keystone => Child?.ApiKey is not null;

        public List<double> Rps { get; } = [];
        public List<double> CpuPerRequest { get; } = [];
        public Percentiles Latency { get; set; } = new(double.NaN, double.NaN);
        public Percentiles FirstToken { get; set; } = new(double.NaN, double.NaN);
        public int Goodput { get; set; }
        public List<string> GoodputSteps { get; } = [];
        public (long RssKb, long PeakKb) MemoryAfterSeries { get; set; }
        public long PeakKb { get; set; }
        public Dictionary<int, (long RssKb, int Open)> Streams { get; } = [];
        /// <summary>Keystone's own view of its memory at the report's points (<see cref="MemorySnapshot"/>).</summary>
        public List<(string Column, MemorySnapshot? Snapshot)> Snapshots { get; } = [];
        public long Errors;
    }

    public static async Task<string> RunAsync(bool smoke, TextWriter progress, bool quick = false)
    {
        var settings = smoke ? Settings.Smoke : quick ? Settings.Quick : Settings.Full;
        var loadBefore = LoadAverage();
        var stealBefore = CpuTimes();
        var started = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource();

        await using var mock = await PeerMock.StartAsync(Answer, Hold);
        progress.WriteLine($"mock at {mock.BaseUrl}");

        // Start every gateway at once (each takes seconds on two loaded cores).
        var bareTask = ChildTarget.StartAsync("bare", mock.BaseUrl, recording: true, cts.Token);
        var keystoneTask = ChildTarget.StartAsync("keystone", mock.BaseUrl, recording: true, cts.Token);
        var quietTask = ChildTarget.StartAsync("keystone", mock.BaseUrl, recording: false, cts.Token);
        var portkeyTask = PortkeyGateway.StartAsync(progress, cts.Token);
        await using var bare = await bareTask;
        await using var keystone = await keystoneTask;
        await using var quiet = await quietTask;
        await using var portkey = await portkeyTask;
        progress.WriteLine($"bare proxy {bare.Url} (pid {bare.ProcessId}); keystone {keystone.Url} (pid {keystone.ProcessId}); recording off (pid {quiet.ProcessId}); portkey {portkey.Url} (pid {portkey.ProcessId})");

        var targets = new List<Target>
        {
            new() { Name = "direct", Url = new Uri(mock.BaseUrl, "chat/completions"), Model = "gpt-4o-mini" },
            new() { Name = "bare proxy", Url = bare.Url, Model = "gpt-4o-mini", ProcessId = bare.ProcessId, Child = bare },
            KeystoneTarget("Keystone", keystone),
            KeystoneTarget("Keystone, recording off", quiet),
            new() { Name = "Portkey " + PortkeyGateway.Version, Url = portkey.Url, Model = "gpt-4o-mini", ProcessId = portkey.ProcessId,
                Address = r => PortkeyGateway.Address(r, mock.BaseUrl) },
        };
        var startupMemory = targets.Where(t => t.ProcessId is not null).ToDictionary(t => t.Name, t => Memory(t.ProcessId!.Value).RssKb);
        foreach (var t in targets.Where(t => t.Keystone))
        {
            t.Snapshots.Add(("after start", await t.Child!.MemoryAsync(afterGc: false, cts.Token)));
        }

        using var client = ApiBenchmarkHost.CreateClient();

        // Warm-up: every path, concurrent and sequential, plain and streamed, so the series start on jitted code and open connections.
        foreach (var t in targets)
        {
            await WarmUpAsync(client, t, settings.WarmUp, smoke ? 3 : 50);
        }

        var writtenBefore = await keystone.FlushAsync(cts.Token);
        var storedBefore = Stored(keystone.DataDirectory!);
        progress.WriteLine($"warmed up in {started.Elapsed.TotalSeconds:0} s; keystone has written {writtenBefore} calls");

        // Throughput at 16 callers, in rounds, the order rotating.
        for (var round = 0; round < settings.Rounds; round++)
        {
            foreach (var t in targets.Skip(round % targets.Count).Concat(targets.Take(round % targets.Count)))
            {
                var cpuBefore = t.ProcessId is { } pid ? Cpu(pid) : TimeSpan.Zero;
                var count = await ClosedLoopAsync(client, t, settings.Window, Callers);
                if (t.Child?.ApiKey is not null)
                {
                    // Keystone's CPU includes writing what the window recorded (the recorder's drain).
                    await t.Child.FlushAsync(cts.Token);
                }

                t.Rps.Add(count / settings.Window.TotalSeconds);
                if (t.ProcessId is { } p)
                {
                    t.CpuPerRequest.Add((Cpu(p) - cpuBefore).TotalMicroseconds / Math.Max(1, count));
                }

                progress.WriteLine(FormattableString.Invariant($"round {round + 1}: {t.Name} {t.Rps[^1]:0} req/s{(t.CpuPerRequest.Count > 0 ? $", {t.CpuPerRequest[^1]:0} µs CPU/request" : "")}"));
            }
        }

        foreach (var t in targets.Where(t => t.ProcessId is not null))
        {
            t.MemoryAfterSeries = Memory(t.ProcessId!.Value);
        }

        foreach (var t in targets.Where(t => t.Keystone))
        {
            t.Snapshots.Add(("after the throughput series", await t.Child!.MemoryAsync(afterGc: false, cts.Token)));
        }

        var writtenAfter = await keystone.FlushAsync(cts.Token);
        var storedAfter = Stored(keystone.DataDirectory!);

        // Latency at one caller, interleaved call by call.
        var latency = targets.Select(_ => new double[settings.LatencySamples]).ToArray();
        for (var i = 0; i < settings.LatencySamples; i++)
        {
            for (var j = 0; j < targets.Count; j++)
            {
                var k = (i + j) % targets.Count;
                var start = Stopwatch.GetTimestamp();
                await CallAsync(client, targets[k], stream: false);
                latency[k][i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }

        for (var k = 0; k < targets.Count; k++)
        {
            targets[k].Latency = Percentiles.Of(latency[k]);
        }

        // Time to first token, interleaved.
        var ttft = targets.Select(_ => new double[settings.FirstTokenSamples]).ToArray();
        for (var i = 0; i < settings.FirstTokenSamples; i++)
        {
            for (var j = 0; j < targets.Count; j++)
            {
                var k = (i + j) % targets.Count;
                ttft[k][i] = await FirstTokenAsync(client, targets[k], hold: false);
            }
        }

        for (var k = 0; k < targets.Count; k++)
        {
            targets[k].FirstToken = Percentiles.Of(ttft[k]);
            progress.WriteLine(FormattableString.Invariant($"{targets[k].Name}: p50 {targets[k].Latency.P50:0.000} p99 {targets[k].Latency.P99:0.000} ms, first token p50 {targets[k].FirstToken.P50:0.000} ms"));
        }

        // Goodput: the highest offered rate each path keeps steady (p99 ≤ 50 ms, no errors, ≥ 95 % achieved) against a 20 ms mock.
        mock.AnswerDelay = SlowUpstream;
        foreach (var t in targets)
        {
            await OpenLoopAsync(client, t, settings.Rates[0] / 2, TimeSpan.FromSeconds(smoke ? 0.5 : 2)); // the pool at this shape
            foreach (var rate in settings.Rates)
            {
                var step = await OpenLoopAsync(client, t, rate, settings.Step);
                var steady = step.Errors == 0 && step.P99 <= P99Limit && step.Achieved >= rate * 0.95;
                t.GoodputSteps.Add(FormattableString.Invariant($"{rate}/s: {step.Achieved:0}/s p99 {step.P99:0.0} ms{(step.Errors > 0 ? $", {step.Errors} errors" : "")}"));
                progress.WriteLine($"goodput {t.Name} {t.GoodputSteps[^1]}");
                Interlocked.Add(ref t.Errors, step.Errors);
                if (t.Child?.ApiKey is not null)
                {
                    await t.Child.FlushAsync(cts.Token);
                }

                if (!steady)
                {
                    break;
                }

                t.Goodput = rate;
            }
        }

        mock.AnswerDelay = TimeSpan.Zero;

        // Resident memory with N streams open at once (the mock holds each after its first words until the sample is taken).
        foreach (var t in targets.Where(t => t.ProcessId is not null))
        {
            foreach (var level in settings.StreamLevels)
            {
                var top = level == settings.StreamLevels[^1];
                var (rss, open, failed, snapshot) = await StreamsAsync(client, mock, t, level, settings.StreamsOpenWithin, snapshot: top && t.Keystone);
                t.Streams[level] = (rss, open);
                if (snapshot is not null)
                {
                    t.Snapshots.Add(($"{level:N0} streams open", snapshot));
                }

                Interlocked.Add(ref t.Errors, failed);
                progress.WriteLine($"{t.Name}: {open}/{level} streams open, {rss / 1024.0:0} MB resident{(failed > 0 ? $", {failed} failed" : "")}");
                if (t.Child?.ApiKey is not null)
                {
                    await t.Child.FlushAsync(cts.Token);
                }
            }

            t.PeakKb = Memory(t.ProcessId!.Value).PeakKb;
        }

        foreach (var t in targets.Where(t => t.Keystone))
        {
            // Last, since it changes what it measures: what is live, and what the process gives back when asked to.
            t.Snapshots.Add(("at the end", await t.Child!.MemoryAsync(afterGc: false, cts.Token)));
            t.Snapshots.Add(("at the end, after a full compacting GC", await t.Child!.MemoryAsync(afterGc: true, cts.Token)));
        }

        await keystone.FlushAsync(cts.Token);
        var modelLoaded = keystone.EmbeddingModelLoaded;
        var stealAfter = CpuTimes();
        if (smoke && targets.FirstOrDefault(t => t.Errors > 0) is { } failing)
        {
            throw new InvalidOperationException($"{failing.Name} failed {failing.Errors} requests during the smoke run.");
        }

        return Markdown(targets, settings, smoke, portkey.Notes, keystone.RuntimeNote + (modelLoaded
                ? "; **the local embedding model was loaded although no call embedded**"
                : "; the product's `embed` alias (the local model) configured and, as no call embedded, never loaded"), startupMemory,
            (writtenAfter - writtenBefore, Diff(storedBefore, storedAfter)), loadBefore, LoadAverage(), Steal(stealBefore, stealAfter), started.Elapsed);
    }

    /// <summary>
    /// Only the one-caller series (<c>--api --peers --first-token [samples]</c>, about a minute): direct, the bare proxy and
    /// Keystone, warmed up, then latency and time to first token interleaved call by call. For comparing changes to the
    /// streaming path (issue 26, item 3) without the whole report; Keystone's runtime settings as in the full run.
    /// </summary>
    public static async Task<string> RunFirstTokenAsync(int samples, TextWriter progress, TimeSpan gap = default)
    {
        var load = LoadAverage();
        using var cts = new CancellationTokenSource();
        await using var mock = await PeerMock.StartAsync(Answer, Hold);
        var bareTask = ChildTarget.StartAsync("bare", mock.BaseUrl, recording: true, cts.Token);
        var keystoneTask = ChildTarget.StartAsync("keystone", mock.BaseUrl, recording: true, cts.Token);
        // A baseline build or a variant beside it (StartBeside), interleaved call by call: a change measured as a pair in one run.
        var beside = StartBeside(mock.BaseUrl, cts.Token);
        await using var bare = await bareTask;
        await using var keystone = await keystoneTask;
        await using var baseline = beside is null ? null : await beside.Value.Started;
        var targets = new List<Target>
        {
            new() { Name = "direct", Url = new Uri(mock.BaseUrl, "chat/completions"), Model = "gpt-4o-mini" },
            new() { Name = "bare proxy", Url = bare.Url, Model = "gpt-4o-mini", ProcessId = bare.ProcessId, Child = bare },
            KeystoneTarget("Keystone", keystone),
        };
        if (baseline is not null)
        {
            targets.Add(KeystoneTarget(beside!.Value.Name, baseline));
        }

        using var client = ApiBenchmarkHost.CreateClient();
        await WarmUpOneCallerAsync(client, targets);

        await keystone.FlushAsync(cts.Token);
        progress.WriteLine("warmed up");
        var latency = targets.Select(_ => new double[samples]).ToArray();
        var ttft = targets.Select(_ => new double[samples]).ToArray();
        for (var i = 0; i < samples; i++)
        {
            for (var j = 0; j < targets.Count; j++)
            {
                var k = (i + j) % targets.Count;
                await Gap(gap);
                var start = Stopwatch.GetTimestamp();
                await CallAsync(client, targets[k], stream: false);
                latency[k][i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                await Gap(gap);
                ttft[k][i] = await FirstTokenAsync(client, targets[k], hold: false);
            }
        }

        static async Task Gap(TimeSpan gap)
        {
            if (gap > TimeSpan.Zero)
            {
                await Task.Delay(gap);
            }
        }

        // Throughput pairs: 16 callers, rounds of 3 s in rotating order, each gateway's CPU per request over its window.
        var gateways = targets.Where(t => t.ProcessId is not null).ToList();
        for (var round = 0; round < 3; round++)
        {
            foreach (var t in gateways.Skip(round % gateways.Count).Concat(gateways.Take(round % gateways.Count)))
            {
                var cpuBefore = Cpu(t.ProcessId!.Value);
                var count = await ClosedLoopAsync(client, t, TimeSpan.FromSeconds(3), Callers);
                if (t.Keystone)
                {
                    await t.Child!.FlushAsync(cts.Token);
                }

                t.Rps.Add(count / 3.0);
                t.CpuPerRequest.Add((Cpu(t.ProcessId!.Value) - cpuBefore).TotalMicroseconds / Math.Max(1, count));
            }
        }

        foreach (var t in gateways)
        {
            t.MemoryAfterSeries = Memory(t.ProcessId!.Value);
        }

        static double Median(List<double> xs) => xs.Count == 0 ? double.NaN : xs.Order().ElementAt(xs.Count / 2);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"One caller, {samples:N0} calls and {samples:N0} streams per path, interleaved{(gap > TimeSpan.Zero ? FormattableString.Invariant($", an idle {gap.TotalMilliseconds:0} ms before each") : "")}; then 16 callers, 3 rounds of 3 s; load average before {load}, after {LoadAverage()}; Keystone with {keystone.RuntimeNote}{(baseline is null ? "" : "; the other: " + baseline.RuntimeNote)}.");
        md.AppendLine();
        md.AppendLine("| Path | p50 (ms) | p99 (ms) | added p50 | first token p50 (ms) | first token p99 (ms) | added first token p50 | req/s, 16 callers | CPU µs/request | resident after |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        var l = latency.Select(Percentiles.Of).ToArray();
        var f = ttft.Select(Percentiles.Of).ToArray();
        for (var k = 0; k < targets.Count; k++)
        {
            md.AppendLine(FormattableString.Invariant(
                $"| {targets[k].Name} | {l[k].P50:0.000} | {l[k].P99:0.000} | {l[k].P50 - l[0].P50:0.000} | {f[k].P50:0.000} | {f[k].P99:0.000} | {f[k].P50 - f[0].P50:0.000} | {Median(targets[k].Rps):N0} | {Median(targets[k].CpuPerRequest):N0} | {targets[k].MemoryAfterSeries.RssKb / 1024.0:N0} MB |"));
        }

        return md.ToString();
    }

    /// <summary>
    /// Only the memory curve (<c>--api --peers --memory [--smoke]</c>, about three minutes): Keystone and Keystone with
    /// recording off (and a variant or a baseline build beside them, as in <see cref="RunFirstTokenAsync"/>), each warmed
    /// up, then the full run's throughput series (16 callers, 3 rounds of 5 s in rotating order, each window's recording
    /// drained), a short goodput ladder against the 20 ms mock, and 100 / 250 / 500 / 1,000 streams open at once; resident
    /// memory and each process's own account of it at each point (issue 26: the memory targets, measured as pairs).
    /// </summary>
    public static async Task<string> RunMemoryAsync(bool smoke, TextWriter progress)
    {
        var load = LoadAverage();
        var started = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource();
        await using var mock = await PeerMock.StartAsync(Answer, Hold);
        await using var keystones = await StartKeystonesAsync(mock.BaseUrl, cts.Token);
        var targets = keystones.Targets;

        var settings = smoke ? Settings.Smoke : Settings.Full;
        int[] ladder = smoke ? [50] : [1000, 2000, 3000, 4000];
        var startup = targets.ToDictionary(t => t.Name, t => Memory(t.ProcessId!.Value).RssKb);
        foreach (var t in targets)
        {
            t.Snapshots.Add(("after start", await t.Child!.MemoryAsync(afterGc: false, cts.Token)));
        }

        using var client = ApiBenchmarkHost.CreateClient();
        foreach (var t in targets)
        {
            await WarmUpAsync(client, t, settings.WarmUp, smoke ? 3 : 50);
            await t.Child!.FlushAsync(cts.Token);
        }

        for (var round = 0; round < settings.Rounds; round++)
        {
            foreach (var t in targets.Skip(round % targets.Count).Concat(targets.Take(round % targets.Count)))
            {
                var cpuBefore = Cpu(t.ProcessId!.Value);
                var count = await ClosedLoopAsync(client, t, settings.Window, Callers);
                await t.Child!.FlushAsync(cts.Token);
                t.Rps.Add(count / settings.Window.TotalSeconds);
                t.CpuPerRequest.Add((Cpu(t.ProcessId!.Value) - cpuBefore).TotalMicroseconds / Math.Max(1, count));
                progress.WriteLine(FormattableString.Invariant($"round {round + 1}: {t.Name} {t.Rps[^1]:0} req/s, {t.CpuPerRequest[^1]:0} µs CPU/request"));
            }
        }

        foreach (var t in targets)
        {
            t.MemoryAfterSeries = Memory(t.ProcessId!.Value);
            t.Snapshots.Add(("after the throughput series", await t.Child!.MemoryAsync(afterGc: false, cts.Token)));
        }

        mock.AnswerDelay = SlowUpstream;
        foreach (var t in targets)
        {
            foreach (var rate in ladder)
            {
                var step = await OpenLoopAsync(client, t, rate, smoke ? settings.Step : TimeSpan.FromSeconds(3));
                t.GoodputSteps.Add(FormattableString.Invariant($"{rate}/s: {step.Achieved:0}/s p99 {step.P99:0.0} ms{(step.Errors > 0 ? $", {step.Errors} errors" : "")}"));
                await t.Child!.FlushAsync(cts.Token);
                if (step.Errors > 0 || step.P99 > P99Limit)
                {
                    break;
                }
            }
        }

        mock.AnswerDelay = TimeSpan.Zero;
        foreach (var t in targets)
        {
            foreach (var level in settings.StreamLevels)
            {
                var top = level == settings.StreamLevels[^1];
                var (rss, open, failed, snapshot) = await StreamsAsync(client, mock, t, level, settings.StreamsOpenWithin, snapshot: top);
                t.Streams[level] = (rss, open);
                if (snapshot is not null)
                {
                    t.Snapshots.Add(($"{level:N0} streams open", snapshot));
                }

                Interlocked.Add(ref t.Errors, failed);
                progress.WriteLine($"{t.Name}: {open}/{level} streams open, {rss / 1024.0:0} MB resident");
                await t.Child!.FlushAsync(cts.Token);
            }

            t.PeakKb = Memory(t.ProcessId!.Value).PeakKb;
            t.Snapshots.Add(("at the end", await t.Child!.MemoryAsync(afterGc: false, cts.Token)));
            t.Snapshots.Add(("at the end, after a full compacting GC", await t.Child!.MemoryAsync(afterGc: true, cts.Token)));
            await HeapDumpAsync(t, "end-after-gc");
        }

        if (smoke && targets.FirstOrDefault(t => t.Errors > 0) is { } failing)
        {
            throw new InvalidOperationException($"{failing.Name} failed {failing.Errors} requests during the smoke run.");
        }

        static double Median(List<double> xs) => xs.Count == 0 ? double.NaN : xs.Order().ElementAt(xs.Count / 2);
        static string Mb(long kb) => kb <= 0 ? "—" : (kb / 1024.0).ToString("N0", CultureInfo.InvariantCulture);
        var md = new StringBuilder();
        md.AppendLine(FormattableString.Invariant($"{(smoke ? "**Smoke run (figures mean nothing)**. " : "")}Command: `dotnet run -c Release --project tests/Keystone.Benchmarks -- --api --peers --memory{(smoke ? " --smoke" : "")}`; {started.Elapsed.TotalMinutes:0.0} min; load average before {load}, after {LoadAverage()}. ")
            + FormattableString.Invariant($"Throughput: {Callers} callers, {settings.Rounds} rounds of {settings.Window.TotalSeconds:0.#} s in rotating order, each window's recording drained; then open-loop steps of 3 s ({string.Join(", ", ladder)} req/s) against a 20 ms mock; then streams held open. ")
            + string.Join("; ", targets.Select(t => $"{t.Name}: {t.Child!.RuntimeNote}")) + ".");
        md.AppendLine();
        md.AppendLine("| Resident memory (MB) | " + string.Join(" | ", targets.Select(t => t.Name)) + " |");
        md.AppendLine("|---|" + string.Concat(targets.Select(_ => "---|")));
        md.AppendLine("| after start | " + string.Join(" | ", targets.Select(t => Mb(startup[t.Name]))) + " |");
        md.AppendLine("| after the throughput series (peak so far) | " + string.Join(" | ", targets.Select(t => $"{Mb(t.MemoryAfterSeries.RssKb)} ({Mb(t.MemoryAfterSeries.PeakKb)})")) + " |");
        foreach (var level in settings.StreamLevels)
        {
            md.AppendLine(FormattableString.Invariant($"| {level:N0} streams open | ") + string.Join(" | ", targets.Select(t => t.Streams.TryGetValue(level, out var s) ? FormattableString.Invariant($"{Mb(s.RssKb)} ({s.Open:N0})") : "—")) + " |");
        }

        md.AppendLine("| peak over the run | " + string.Join(" | ", targets.Select(t => Mb(t.PeakKb))) + " |");
        md.AppendLine("| req/s at 16 callers (median of the rounds) | " + string.Join(" | ", targets.Select(t => Median(t.Rps).ToString("N0", CultureInfo.InvariantCulture))) + " |");
        md.AppendLine("| CPU µs per request (median; the recorder's drain included) | " + string.Join(" | ", targets.Select(t => Median(t.CpuPerRequest).ToString("N0", CultureInfo.InvariantCulture))) + " |");
        md.AppendLine("| per round (req/s) | " + string.Join(" | ", targets.Select(t => string.Join(" / ", t.Rps.Select(r => r.ToString("N0", CultureInfo.InvariantCulture))))) + " |");
        md.AppendLine();
        foreach (var t in targets)
        {
            md.AppendLine(MemorySnapshot.Table($"Where {t.Name}'s resident memory goes (MB):", t.Snapshots));
        }

        md.AppendLine("Open-loop steps (offered: achieved, p99):");
        md.AppendLine();
        foreach (var t in targets)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {t.Name}: {string.Join("; ", t.GoodputSteps)}");
        }

        md.AppendLine();
        md.AppendLine("Memory given back when quiet (each Keystone's log, `Memory:TrimWhenQuiet`):");
        md.AppendLine();
        foreach (var t in targets)
        {
            var trims = t.Child!.LogLines("Quiet after a burst");
            md.AppendLine(CultureInfo.InvariantCulture, $"- {t.Name}: {(trims.Count == 0 ? "none" : string.Join("; ", trims))}");
        }

        return md.ToString();
    }

    /// <summary>
    /// Where a request's CPU and allocations go (<c>--api --peers --profile [seconds] [--no-recording]</c>): the bare proxy
    /// and Keystone as processes of their own with the realistic payload, 16 callers in a closed loop for
    /// <paramref name="seconds"/> each, after a warm-up. Before each window it prints <c>PROFILE &lt;name&gt; pid &lt;pid&gt;</c>
    /// so a profiler can attach to that process only (<c>perf record -g -p</c>, with
    /// <c>KEYSTONE_CHILD_DOTNET_PerfMapEnabled=1</c> for the JIT's symbols); after it, requests/s, the process's CPU and
    /// managed bytes allocated per request, then a short allocation sample of Keystone (types, share of bytes).
    /// </summary>
    public static async Task<string> RunProfileAsync(int seconds, bool recording, TextWriter progress)
    {
        var load = LoadAverage();
        using var cts = new CancellationTokenSource();
        await using var mock = await PeerMock.StartAsync(Answer, Hold);
        await using var bare = await ChildTarget.StartAsync("bare", mock.BaseUrl, recording: true, cts.Token);
        await using var keystone = await ChildTarget.StartAsync("keystone", mock.BaseUrl, recording, cts.Token);
        var targets = new List<Target>
        {
            new() { Name = "bare proxy", Url = bare.Url, Model = "gpt-4o-mini", ProcessId = bare.ProcessId, Child = bare },
            KeystoneTarget("Keystone", keystone),
        };
        using var client = ApiBenchmarkHost.CreateClient();
        foreach (var t in targets)
        {
            await ClosedLoopAsync(client, t, TimeSpan.FromSeconds(8), Callers);
        }

        await keystone.FlushAsync(cts.Token);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"16 callers, {seconds} s per path, realistic payload, recording {(recording ? "on" : "off")}; load average before {load}; Keystone with {keystone.RuntimeNote}.");
        md.AppendLine();
        md.AppendLine("| Path | req/s | CPU µs/request | managed bytes allocated/request |");
        md.AppendLine("|---|---|---|---|");
        foreach (var t in targets)
        {
            progress.WriteLine($"PROFILE {t.Name} pid {t.ProcessId} for {seconds} s");
            var allocatedBefore = await t.Child!.AllocatedAsync(cts.Token);
            var cpuBefore = Cpu(t.ProcessId!.Value);
            var count = await ClosedLoopAsync(client, t, TimeSpan.FromSeconds(seconds), Callers);
            if (t.Keystone)
            {
                await t.Child.FlushAsync(cts.Token);
            }

            var cpu = (Cpu(t.ProcessId!.Value) - cpuBefore).TotalMicroseconds / Math.Max(1, count);
            var allocated = (await t.Child.AllocatedAsync(cts.Token) - allocatedBefore) / (double)Math.Max(1, count);
            progress.WriteLine($"PROFILED {t.Name}");
            md.AppendLine(FormattableString.Invariant($"| {t.Name} | {count / (double)seconds:N0} | {cpu:N1} | {allocated:N0} |"));
        }

        await keystone.StartAllocationSampleAsync(cts.Token);
        await ClosedLoopAsync(client, targets[1], TimeSpan.FromSeconds(Math.Min(seconds, 5)), Callers);
        await keystone.FlushAsync(cts.Token);
        md.AppendLine();
        md.AppendLine("Keystone's allocations by type (the runtime's allocation ticks, share of sampled bytes):");
        md.AppendLine();
        foreach (var (type, share) in await keystone.StopAllocationSampleAsync(cts.Token))
        {
            md.AppendLine(FormattableString.Invariant($"- {share:P1} {type}"));
        }

        return md.ToString();
    }

    private static string Markdown(List<Target> targets, Settings settings, bool smoke, string portkeyNotes, string keystoneRuntime,
        Dictionary<string, long> startupMemory, (long Calls, List<(string Table, long Bytes)> Tables) stored, string loadBefore, string loadAfter,
        string steal, TimeSpan elapsed)
    {
        var direct = targets[0];
        var bare = targets[1];
        var ks = targets[2];
        var quiet = targets[3];
        var peer = targets[4];
        static double Median(List<double> xs) => xs.Count == 0 ? double.NaN : xs.Order().ElementAt(xs.Count / 2);
        string Mb(long kb) => kb <= 0 ? "—" : (kb / 1024.0).ToString("N0", CultureInfo.InvariantCulture) + " MB";
        var storedTotal = stored.Tables.Where(t => t.Table.StartsWith('(')).Sum(t => t.Bytes);
        var perCall = stored.Calls > 0 ? storedTotal / (double)stored.Calls : double.NaN;
        var recorderCpu = Median(ks.CpuPerRequest) - Median(quiet.CpuPerRequest);

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{(smoke ? "**Smoke run (very short series; figures mean nothing)**. " : settings == Settings.Quick ? "**Quick run (one round, short ladder)**. " : "")}Command: `dotnet run -c Release --project tests/Keystone.Benchmarks -- --api --peers{(smoke ? " --smoke" : settings == Settings.Quick ? " --quick" : "")}`; "
            + $"{elapsed.TotalMinutes:0.0} min; {Environment.ProcessorCount} cores, .NET {Environment.Version}; load average before {loadBefore}, after {loadAfter}; CPU steal during the run {steal}.");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Payload: a {Encoding.UTF8.GetByteCount(SystemPrompt):N0}-byte system prompt, a unique user line per request (cache miss), a {Answer.Length:N0}-character answer from the mock. "
            + $"Throughput: {Callers} callers, {settings.Rounds} interleaved rounds of {settings.Window.TotalSeconds:0.#} s, medians. Latency: {settings.LatencySamples:N0} sequential calls per path, interleaved call by call; first token: {settings.FirstTokenSamples:N0} streams per path. "
            + $"CPU per request: the gateway process's user + system time over the window (Keystone's including the recorder's drain after it), from /proc. "
            + $"Keystone runs with {keystoneRuntime}; the peer is {portkeyNotes}.");
        md.AppendLine();
        md.AppendLine("| Measure | Direct (mock) | Bare proxy | Keystone | Keystone, recording off | Portkey | Keystone ÷ bare | Keystone ÷ Portkey | Target | Met |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        string F(double v, string format) => double.IsNaN(v) ? "—" : v.ToString(format, CultureInfo.InvariantCulture);
        void Row(string measure, Func<Target, double> value, string format, string unit, string target, bool? met, bool ratios = true, bool directToo = true)
        {
            var cells = targets.Select((t, i) => i == 0 && !directToo ? "—" : F(value(t), format) + unit).ToList();
            var toBare = ratios ? F(value(ks) / value(bare), "0.00") : "—";
            var toPeer = ratios ? F(value(ks) / value(peer), "0.00") : "—";
            md.AppendLine(CultureInfo.InvariantCulture, $"| {measure} | {string.Join(" | ", cells)} | {toBare} | {toPeer} | {target} | {(met is null ? "—" : met.Value ? "yes" : "**no**")} |");
        }

        var ksRps = Median(ks.Rps);
        Row($"Throughput, {Callers} callers (req/s)", t => Median(t.Rps), "N0", "", "≥ 0.6 of bare, ≥ 5× Portkey",
            ksRps >= 0.6 * Median(bare.Rps) && ksRps >= 5 * Median(peer.Rps));
        Row("Process CPU per request (µs)", t => Median(t.CpuPerRequest), "N0", "", "(recording ≤ 30 µs of it)", null, directToo: false);
        md.AppendLine(CultureInfo.InvariantCulture, $"| Recording's CPU per call (Keystone − recording off, µs) | | | {F(recorderCpu, "N0")} | | | | | ≤ 30 µs | {(double.IsNaN(recorderCpu) ? "—" : recorderCpu <= 30 ? "yes" : "**no**")} |");
        Row("Added latency p50, 1 caller (ms)", t => t.Latency.P50 - direct.Latency.P50, "0.000", "", "≤ 0.3 ms", ks.Latency.P50 - direct.Latency.P50 <= 0.3);
        Row("Added latency p99, 1 caller (ms)", t => t.Latency.P99 - direct.Latency.P99, "0.000", "", "≤ 1 ms", ks.Latency.P99 - direct.Latency.P99 <= 1);
        Row("Added time to first token p50 (ms)", t => t.FirstToken.P50 - direct.FirstToken.P50, "0.000", "", "≤ 0.3 ms", ks.FirstToken.P50 - direct.FirstToken.P50 <= 0.3);
        Row("Goodput: highest steady rate, 20 ms mock, p99 ≤ 50 ms (req/s)", t => t.Goodput, "N0", "", "≥ 5,000", ks.Goodput >= 5000);
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Resident memory after start | — | {string.Join(" | ", targets.Skip(1).Select(t => Mb(startupMemory.GetValueOrDefault(t.Name))))} | | | (report) | — |");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Resident memory after the throughput series (peak so far) | — | {string.Join(" | ", targets.Skip(1).Select(t => $"{Mb(t.MemoryAfterSeries.RssKb)} ({Mb(t.MemoryAfterSeries.PeakKb)})"))} | {F(ks.MemoryAfterSeries.RssKb / (double)bare.MemoryAfterSeries.RssKb, "0.00")} | {F(ks.MemoryAfterSeries.RssKb / (double)peer.MemoryAfterSeries.RssKb, "0.00")} | ≤ 300 MB | {(ks.MemoryAfterSeries.RssKb <= 300 * 1024 ? "yes" : "**no**")} |");
        foreach (var level in settings.StreamLevels)
        {
            var isTop = level == settings.StreamLevels[^1];
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| Resident memory, {level:N0} concurrent streams (open) | — | {string.Join(" | ", targets.Skip(1).Select(t => t.Streams.TryGetValue(level, out var s) ? $"{Mb(s.RssKb)} ({s.Open:N0})" : "—"))} | | | {(isTop ? "≤ 400 MB" : "(curve)")} | {(isTop ? ks.Streams.GetValueOrDefault(level).RssKb <= 400 * 1024 ? "yes" : "**no**" : "—")} |");
        }

        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Peak resident memory over the run | — | {string.Join(" | ", targets.Skip(1).Select(t => Mb(t.PeakKb)))} | | | (report) | — |");
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| Stored bytes per call (Keystone: the SQLite file's used pages and any other file of its data folder) | | | {F(perCall, "N0")} | 0 | | | | ≤ 1,536 | {(double.IsNaN(perCall) ? "—" : perCall <= 1536 ? "yes" : "**no**")} |");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Stored per call by table ({stored.Calls:N0} calls recorded during the throughput series; per table: its values and its indexes' keys, before page overhead; the bundled SQLite has no `dbstat`):");
        md.AppendLine();
        md.AppendLine("| Table | Bytes per call |");
        md.AppendLine("|---|---|");
        foreach (var (table, bytes) in stored.Tables.Where(t => stored.Calls > 0 && Math.Abs(t.Bytes / (double)stored.Calls) >= 1).OrderByDescending(t => t.Bytes))
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| `{table}` | {(stored.Calls > 0 ? bytes / (double)stored.Calls : double.NaN):N0} |");
        }

        md.AppendLine();
        foreach (var t in targets.Where(t => t.Snapshots.Count > 0))
        {
            md.AppendLine(MemorySnapshot.Table($"Where {t.Name}'s resident memory goes (MB, from inside the process: /proc/self/smaps and the GC):", t.Snapshots));
        }

        md.AppendLine("Goodput steps (offered: achieved, p99):");
        md.AppendLine();
        foreach (var t in targets)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {t.Name}: {string.Join("; ", t.GoodputSteps)}");
        }

        return md.ToString();
    }

    private static HttpRequestMessage Request(Target t, bool stream, bool hold = false)
    {
        var nonce = Interlocked.Increment(ref _nonce);
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            model = t.Model,
            messages = new object[]
            {
                new { role = "system", content = SystemPrompt },
                new { role = "user", content = $"{(hold ? Hold + " " : "")}Request {nonce}: summarise the customer's last three tickets and say what to do next." },
            },
            max_tokens = 400,
            temperature = 0.7,
            stream,
        });
        var request = new HttpRequestMessage(HttpMethod.Post, t.Url) { Content = new ByteArrayContent(body), Version = HttpVersion.Version11 };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        t.Address(request);
        return request;
    }

    private static async Task CallAsync(HttpClient client, Target t, bool stream)
    {
        using var request = Request(t, stream);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode || !body.Contains(Answer[..100], StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{t.Name} answered {(int)response.StatusCode}: {body[..Math.Min(body.Length, 500)]}");
        }
    }

    /// <summary>Time until the first chunk with content; reads the stream to <c>[DONE]</c>.</summary>
    private static async Task<double> FirstTokenAsync(HttpClient client, Target t, bool hold, TaskCompletionSource? opened = null)
    {
        var start = Stopwatch.GetTimestamp();
        using var request = Request(t, stream: true, hold);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{t.Name} answered {(int)response.StatusCode} to a stream: {await response.Content.ReadAsStringAsync()}");
        }

        await using var body = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(body, Encoding.UTF8);
        double? first = null;
        var done = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (first is null && line.StartsWith("data: {", StringComparison.Ordinal) && line.Contains("\"content\":\"", StringComparison.Ordinal)
                && !line.Contains("\"content\":\"\"", StringComparison.Ordinal))
            {
                first = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                opened?.TrySetResult();
            }

            done |= line == "data: [DONE]";
        }

        return first is { } ms && done ? ms : throw new InvalidOperationException($"{t.Name}: the stream ended without a token or without [DONE].");
    }

    /// <summary><paramref name="callers"/> callers in a closed loop for <paramref name="length"/>; returns the answered calls.</summary>
    private static async Task<long> ClosedLoopAsync(HttpClient client, Target t, TimeSpan length, int callers)
    {
        var count = 0L;
        var end = Stopwatch.GetTimestamp() + (long)(length.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < end)
            {
                await CallAsync(client, t, stream: false);
                Interlocked.Increment(ref count);
            }
        })));
        return count;
    }

    private sealed record Step(double Achieved, double P50, double P99, int Errors);

    /// <summary>Requests on a fixed schedule (request i due at i / rate), latency from each one's due time.</summary>
    private static async Task<Step> OpenLoopAsync(HttpClient client, Target t, int rate, TimeSpan length)
    {
        var total = Math.Max(1, (int)(rate * length.TotalSeconds));
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
                        await CallAsync(client, t, stream: false);
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
        return new Step(ok.Length / elapsed, p.P50, p.P99, errors);
    }

    /// <summary>
    /// Opens <paramref name="count"/> streams that the mock holds open after their first words; samples the target's
    /// resident memory once every one is streaming (or after <paramref name="wait"/>), then lets them finish.
    /// </summary>
    private static async Task<(long RssKb, int Open, int Failed, MemorySnapshot? Snapshot)> StreamsAsync(HttpClient client, PeerMock mock, Target t, int count,
        TimeSpan wait, bool snapshot)
    {
        var release = mock.HoldStreams();
        var opened = Enumerable.Range(0, count).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToList();
        var failed = 0;
        var streams = opened.Select(o => Task.Run(async () =>
        {
            try
            {
                await FirstTokenAsync(client, t, hold: true, o);
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or TaskCanceledException or IOException)
            {
                Interlocked.Increment(ref failed);
                o.TrySetResult();
            }
        })).ToList();
        await Task.WhenAny(Task.WhenAll(opened.Select(o => o.Task)), Task.Delay(wait));
        await Task.Delay(200);
        var open = opened.Count(o => o.Task.IsCompleted) - Volatile.Read(ref failed);
        var rss = Memory(t.ProcessId!.Value).RssKb;
        var inside = snapshot ? await t.Child!.MemoryAsync(afterGc: false, CancellationToken.None) : null;
        if (snapshot)
        {
            await HeapDumpAsync(t, $"{count}-streams-open");
        }

        release();
        await Task.WhenAll(streams);
        return (rss, open, failed, inside);
    }

    /// <summary>
    /// With <c>KEYSTONE_BENCH_HEAP_DUMPS=&lt;folder&gt;</c> (benchmark-only; issue 26, what an open stream holds), a heap dump
    /// of a Keystone target (<c>dotnet-dump collect --type Heap</c>, the global tool) into that folder, named after the
    /// target and the point; read it with <c>dotnet-dump analyze &lt;file&gt; -c "dumpheap -stat"</c>. The streams stay
    /// held while it is taken. Nothing without the variable.
    /// </summary>
    private static async Task HeapDumpAsync(Target t, string point)
    {
        var folder = Environment.GetEnvironmentVariable("KEYSTONE_BENCH_HEAP_DUMPS");
        if (string.IsNullOrEmpty(folder) || !t.Keystone || t.ProcessId is not { } pid)
        {
            return;
        }

        Directory.CreateDirectory(folder);
        var name = string.Concat(t.Name.Select(c => char.IsLetterOrDigit(c) ? c : '-')) + "-" + point + ".dmp";
        var tool = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "dotnet-dump");
        using var dump = Process.Start(new ProcessStartInfo(File.Exists(tool) ? tool : "dotnet-dump",
            ["collect", "-p", pid.ToString(CultureInfo.InvariantCulture), "--type", "Heap", "-o", Path.Combine(folder, name)])
        {
            RedirectStandardOutput = true,
        })!;
        await dump.StandardOutput.ReadToEndAsync();
        await dump.WaitForExitAsync();
    }

    /// <summary>User + system CPU time of a process (/proc/pid/stat, clock ticks of 1/100 s).</summary>
    private static TimeSpan Cpu(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    /// <summary>Resident set and its peak (VmRSS, VmHWM) in KB.</summary>
    private static (long RssKb, long PeakKb) Memory(int pid)
    {
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }

        return (rss, peak);
    }

    /// <summary>
    /// What the app's SQLite file holds: the bytes of its used pages (page count less free pages, read through the WAL, so
    /// what is committed counts before a checkpoint) as "(all pages)", and per table the bytes of its rows' values plus
    /// those of its indexes' keys (each index entry: its columns and the 8-byte row id). The bundled SQLite has no
    /// <c>dbstat</c>, so the split is payload before page overhead; the page total is what the disk holds. Every other file
    /// of the data folder counts as "(other files)".
    /// </summary>
    private static Dictionary<string, long> Stored(string dataDirectory)
    {
        var result = new Dictionary<string, long>();
        var db = Path.Combine(dataDirectory, "keystone.db");
        using (var connection = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False"))
        {
            connection.Open();
            long Scalar(string sql)
            {
                using var c = connection.CreateCommand();
                c.CommandText = sql;
                return Convert.ToInt64(c.ExecuteScalar(), CultureInfo.InvariantCulture);
            }

            List<string> Column(string sql)
            {
                using var c = connection.CreateCommand();
                c.CommandText = sql;
                using var r = c.ExecuteReader();
                var list = new List<string>();
                while (r.Read())
                {
                    list.Add(r.IsDBNull(0) ? "" : r.GetString(0));
                }

                return list;
            }

            static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
            static string Sum(IEnumerable<string> columns) => string.Join(" + ", columns.Select(c => $"coalesce(length(CAST({Quote(c)} AS BLOB)), 0)").DefaultIfEmpty("0"));

            result["(all pages)"] = (Scalar("PRAGMA page_count") - Scalar("PRAGMA freelist_count")) * Scalar("PRAGMA page_size");
            var tables = Column("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%'");
            foreach (var table in tables)
            {
                var columns = Column($"SELECT name FROM pragma_table_info('{table.Replace("'", "''", StringComparison.Ordinal)}')");
                var bytes = Scalar($"SELECT coalesce(sum({Sum(columns)}), 0) FROM {Quote(table)}");
                foreach (var index in Column($"SELECT name FROM pragma_index_list('{table.Replace("'", "''", StringComparison.Ordinal)}')"))
                {
                    var keys = Column($"SELECT name FROM pragma_index_info('{index.Replace("'", "''", StringComparison.Ordinal)}') WHERE name IS NOT NULL");
                    // A partial index holds only the rows its WHERE keeps (decision 63: the end-user index).
                    var sql = Column($"SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = '{index.Replace("'", "''", StringComparison.Ordinal)}'")
                        .FirstOrDefault() ?? "";
                    var where = sql.LastIndexOf(" WHERE ", StringComparison.OrdinalIgnoreCase) is var at and >= 0 ? sql[at..] : "";
                    bytes += Scalar($"SELECT coalesce(sum({Sum(keys)} + 8), 0) FROM {Quote(table)}{where}");
                }

                result[table] = bytes;
            }
        }

        var others = Directory.EnumerateFiles(dataDirectory, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith("keystone.db", StringComparison.Ordinal))
            .Sum(f => new FileInfo(f).Length);
        result["(other files in the data folder)"] = others;
        return result;
    }

    private static List<(string Table, long Bytes)> Diff(Dictionary<string, long> before, Dictionary<string, long> after)
        => [.. after.Select(a => (a.Key, a.Value - before.GetValueOrDefault(a.Key)))];

    private static string LoadAverage()
        => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    /// <summary>The cpu line of /proc/stat: total and steal jiffies.</summary>
    private static (long Total, long Steal) CpuTimes()
    {
        if (!File.Exists("/proc/stat"))
        {
            return (0, 0);
        }

        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        return (fields.Sum(), fields.Length > 7 ? fields[7] : 0);
    }

    private static string Steal((long Total, long Steal) before, (long Total, long Steal) after)
        => after.Total > before.Total ? ((after.Steal - before.Steal) / (double)(after.Total - before.Total)).ToString("P1", CultureInfo.InvariantCulture) : "n/a";

    private static string BuildSystemPrompt()
    {
        var sb = new StringBuilder("You are the support assistant of Northwind Outfitters. Follow these rules in every answer.\n");
        string[] rules =
        [
            "Greet the customer by name when the ticket gives one, and never invent a name.",
            "Answer in the customer's language; if unsure, answer in English and offer to switch.",
            "Quote order numbers exactly as written and never guess a missing digit.",
            "Refunds above 200 EUR need a human agent: say so and open a handover note.",
            "Never promise delivery dates; give the carrier's estimate with its source.",
            "Keep answers under 150 words unless the customer asks for detail.",
            "Summarise what the customer already tried before suggesting a step.",
            "Do not reveal internal notes, tags or the names of other customers.",
            "If the ticket mentions a safety issue, stop and escalate at once.",
            "End with one clear next step and who takes it.",
        ];
        var i = 0;
        while (Encoding.UTF8.GetByteCount(sb.ToString()) < 2048)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{i + 1}. {rules[i % rules.Length]}\n");
            i++;
        }

        return sb.ToString();
    }

    private static string BuildAnswer()
    {
        const string text = "Thanks for your patience. I looked at your last three tickets: the parcel was split by the warehouse, the second half left "
            + "on Tuesday, and the carrier lists it as in transit. The refund you asked for on the damaged lamp was approved and should reach "
            + "your card within five working days. ";
        var sb = new StringBuilder();
        while (sb.Length < 1000)
        {
            sb.Append(text);
        }

        return sb.ToString(0, 1000);
    }

    /// <summary>
    /// A second Keystone beside the measured ones, when asked, so a change is measured as a pair in one run:
    /// KEYSTONE_BENCH_BASELINE=&lt;another build's Keystone.Benchmarks.dll&gt; runs that build ("Keystone, baseline build");
    /// KEYSTONE_BENCH_VARIANT="NAME=value;NAME=value" runs this build with those environment variables ("Keystone, variant").
    /// Null when neither is set.
    /// </summary>
    private static (string Name, Task<ChildTarget> Started)? StartBeside(Uri mockUrl, CancellationToken ct,
        IReadOnlyDictionary<string, string>? extraEnvironment = null)
    {
        var baselineDll = Environment.GetEnvironmentVariable("KEYSTONE_BENCH_BASELINE");
        if (!string.IsNullOrEmpty(baselineDll))
        {
            return ("Keystone, baseline build", ChildTarget.StartAsync("keystone", mockUrl, recording: true, ct, baselineDll, extraEnvironment));
        }

        var variant = (Environment.GetEnvironmentVariable("KEYSTONE_BENCH_VARIANT") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (variant.Count == 0)
        {
            return null;
        }

        foreach (var (name, value) in extraEnvironment ?? new Dictionary<string, string>())
        {
            variant.TryAdd(name, value);
        }

        return ("Keystone, variant", ChildTarget.StartAsync("keystone", mockUrl, recording: true, ct, extraEnvironment: variant));
    }

    /// <summary>A Keystone child process as a target: the benchmark's alias, addressed with the child's API key.</summary>
    private static Target KeystoneTarget(string name, ChildTarget child) => new()
    {
        Name = name, Url = child.Url, Model = "bench", ProcessId = child.ProcessId, Child = child,
        Address = r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", child.ApiKey),
    };

    /// <summary>
    /// Keystone and Keystone with recording off, each a process of its own, and beside them a baseline build or a variant
    /// when asked (<see cref="StartBeside"/>); disposing the set stops them all.
    /// </summary>
    private static async Task<KeystoneSet> StartKeystonesAsync(Uri mockUrl, CancellationToken ct,
        IReadOnlyDictionary<string, string>? extraEnvironment = null)
    {
        var keystoneTask = ChildTarget.StartAsync("keystone", mockUrl, recording: true, ct, extraEnvironment: extraEnvironment);
        var quietTask = ChildTarget.StartAsync("keystone", mockUrl, recording: false, ct, extraEnvironment: extraEnvironment);
        var beside = StartBeside(mockUrl, ct, extraEnvironment);
        var set = new KeystoneSet();
        set.Add("Keystone", await keystoneTask);
        set.Add("Keystone, recording off", await quietTask);
        if (beside is { } b)
        {
            set.Add(b.Name, await b.Started);
        }

        return set;
    }

    private sealed class KeystoneSet : IAsyncDisposable
    {
        private readonly List<ChildTarget> _children = [];

        public List<Target> Targets { get; } = [];

        public void Add(string name, ChildTarget child)
        {
            _children.Add(child);
            Targets.Add(KeystoneTarget(name, child));
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var child in _children)
            {
                await child.DisposeAsync();
            }
        }
    }

    /// <summary>Warms a path up before it is measured: concurrent calls, then streams one by one (jitted code, open connections).</summary>
    /// <summary>The one-caller phases' warm-up: a short closed loop, then 300 streams and calls, for each target.</summary>
    private static async Task WarmUpOneCallerAsync(HttpClient client, IEnumerable<Target> targets)
    {
        foreach (var t in targets)
        {
            await ClosedLoopAsync(client, t, TimeSpan.FromSeconds(2), Callers);
            for (var i = 0; i < 300; i++)
            {
                await FirstTokenAsync(client, t, hold: false);
                await CallAsync(client, t, stream: false);
            }
        }
    }

    private static async Task WarmUpAsync(HttpClient client, Target target, TimeSpan closedLoop, int streams)
    {
        await ClosedLoopAsync(client, target, closedLoop, Callers);
        for (var i = 0; i < streams; i++)
        {
            await FirstTokenAsync(client, target, hold: false);
        }
    }
}
