using System.Diagnostics;
using System.Globalization;
using System.Text;
using Keystone.Gateway.Telemetry;
using Stage = Keystone.Gateway.Telemetry.FirstTokenStages.Stage;

namespace Keystone.Benchmarks.Api;

internal static partial class PeerReport
{
    /// <summary>The header carrying the client's send time (<see cref="Stopwatch.GetTimestamp"/>) to Keystone's stage profile.</summary>
    internal const string SentHeader = "X-Bench-Sent";

    /// <summary>
    /// Where one stream's first token spends its time inside Keystone (<c>--api --peers --stages [samples] [--gap ms]</c>,
    /// issue 26): direct, the bare proxy and Keystone at one caller, streams interleaved, Keystone with its stage profile on
    /// (<see cref="FirstTokenStages"/>, <c>KEYSTONE_BENCH_STAGES=1</c>). Every timestamp is the machine's monotonic clock
    /// (CLOCK_MONOTONIC, the same in the client's, the mock's and Keystone's process), so the client's send, each stage in
    /// Keystone, the mock's receive and first words, and the client's first token line up on one axis. Prints the p50 of
    /// each step (a stage since the one before) and of the time since the client's send.
    /// </summary>
    public static async Task<string> RunStagesAsync(int samples, TextWriter progress, TimeSpan gap = default, TimeSpan afterFirstWords = default)
    {
        var load = LoadAverage();
        using var cts = new CancellationTokenSource();
        await using var mock = await PeerMock.StartAsync(Answer, Hold);
        var bareTask = ChildTarget.StartAsync("bare", mock.BaseUrl, recording: true, cts.Token);
        var keystoneTask = ChildTarget.StartAsync("keystone", mock.BaseUrl, recording: true, cts.Token, null,
            new Dictionary<string, string> { ["KEYSTONE_BENCH_STAGES"] = "1" });
        await using var bare = await bareTask;
        await using var keystone = await keystoneTask;
        var targets = new List<Target>
        {
            new() { Name = "direct", Url = new Uri(mock.BaseUrl, "chat/completions"), Model = "gpt-4o-mini" },
            new() { Name = "bare proxy", Url = bare.Url, Model = "gpt-4o-mini", ProcessId = bare.ProcessId, Child = bare },
            KeystoneTarget("Keystone", keystone),
        };

        using var client = ApiBenchmarkHost.CreateClient();
        await WarmUpOneCallerAsync(client, targets);

        await keystone.FlushAsync(cts.Token);
        await keystone.StagesAsync(cts.Token); // the warm-up's profiles are dropped
        await bare.StagesAsync(cts.Token);
        progress.WriteLine("warmed up");

        var ttft = targets.Select(_ => new double[samples]).ToArray();
        var clientFirst = new Dictionary<long, (long Headers, long First)>();
        var directSplit = new List<double>();
        var bareClient = new Dictionary<long, (long Headers, long First)>();
        mock.RecordStreams = true;
        mock.AfterFirstWords = afterFirstWords;
        for (var i = 0; i < samples; i++)
        {
            for (var j = 0; j < targets.Count; j++)
            {
                var k = (i + j) % targets.Count;
                if (gap > TimeSpan.Zero)
                {
                    await Task.Delay(gap);
                }

                var sent = Stopwatch.GetTimestamp();
                var (headers, first) = await FirstTokenAtAsync(client, targets[k], sent);
                ttft[k][i] = Stopwatch.GetElapsedTime(sent, first).TotalMilliseconds;
                if (k == 2)
                {
                    clientFirst[sent] = (headers, first);
                }
                else if (k == 1)
                {
                    bareClient[sent] = (headers, first);
                }
                else if (k == 0)
                {
                    directSplit.Add(Stopwatch.GetElapsedTime(sent, headers).TotalMilliseconds);
                }
            }
        }

        mock.RecordStreams = false;
        mock.AfterFirstWords = TimeSpan.Zero;
        var profiles = await keystone.StagesAsync(cts.Token);
        var mockStreams = mock.TakeStreams();
        // The bare proxy's flush of the first words to the client's response headers and first token: the floor of the last step.
        var bareFlushes = (await bare.StagesAsync(cts.Token)).Where(b => bareClient.ContainsKey(b[0])).ToList();
        var bareToHeaders = Percentiles.Of([.. bareFlushes.Select(b => Stopwatch.GetElapsedTime(b[1], bareClient[b[0]].Headers).TotalMilliseconds)]);
        var bareToFirst = Percentiles.Of([.. bareFlushes.Select(b => Stopwatch.GetElapsedTime(b[1], bareClient[b[0]].First).TotalMilliseconds)]);

        // One row per step: Keystone's stages, the mock's two inside the upstream request, the client's first token.
        var names = new List<string>();
        names.AddRange(Enum.GetNames<Stage>());
        var upstreamAt = names.IndexOf(nameof(Stage.UpstreamSend)) + 1;
        names.Insert(upstreamAt, "MockReceived");
        names.Insert(upstreamAt + 1, "MockFirstWordsFlushed");
        names.Add("ClientHeaders");
        names.Add("ClientFirstToken");
        var rows = new List<long[]>();
        foreach (var p in profiles)
        {
            if (!clientFirst.TryGetValue(p[(int)Stage.ClientSent], out var firstAt) || p.Any(v => v == 0))
            {
                continue;
            }

            var m = mockStreams.FirstOrDefault(x => x.Received >= p[(int)Stage.UpstreamSend] && x.Received <= p[(int)Stage.UpstreamHeaders]);
            if (m.Received == 0)
            {
                continue;
            }

            var row = p.ToList();
            row.Insert(upstreamAt, m.Received);
            row.Insert(upstreamAt + 1, m.FirstWords);
            row.Add(firstAt.Headers);
            row.Add(firstAt.First);
            rows.Add([.. row]);
        }

        var f = ttft.Select(Percentiles.Of).ToArray();
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"One caller, {samples:N0} streams per path, interleaved{(gap > TimeSpan.Zero ? FormattableString.Invariant($", an idle {gap.TotalMilliseconds:0} ms before each") : "")}{(afterFirstWords > TimeSpan.Zero ? FormattableString.Invariant($", the mock pausing {afterFirstWords.TotalMilliseconds:0} ms after each stream's first words") : "")}; load average before {load}, after {LoadAverage()}; Keystone with {keystone.RuntimeNote}; {rows.Count:N0} complete Keystone profiles.");
        md.AppendLine();
        md.AppendLine(FormattableString.Invariant($"First token p50: direct {f[0].P50:0.000} ms, bare proxy {f[1].P50:0.000} (+{f[1].P50 - f[0].P50:0.000}), Keystone {f[2].P50:0.000} (+{f[2].P50 - f[0].P50:0.000}); direct's response headers reached the client after {Percentiles.Of([.. directSplit]).P50:0.000} ms (p50); the bare proxy's flush of the first words to the client's response headers {bareToHeaders.P50:0.000} ms and to its first token {bareToFirst.P50:0.000} ms (p50, {bareFlushes.Count} streams)."));
        md.AppendLine();
        md.AppendLine("| Stage (reached when) | step p50 (ms) | step p90 (ms) | since the client's send, p50 (ms) |");
        md.AppendLine("|---|---|---|---|");
        for (var s = 1; s < names.Count; s++)
        {
            var step = Percentiles.Of([.. rows.Select(r => Stopwatch.GetElapsedTime(r[s - 1], r[s]).TotalMilliseconds)]);
            var p90 = Quantile([.. rows.Select(r => Stopwatch.GetElapsedTime(r[s - 1], r[s]).TotalMilliseconds)], 0.9);
            var since = Percentiles.Of([.. rows.Select(r => Stopwatch.GetElapsedTime(r[0], r[s]).TotalMilliseconds)]);
            md.AppendLine(FormattableString.Invariant($"| {names[s]} | {step.P50:0.000} | {p90:0.000} | {since.P50:0.000} |"));
        }

        return md.ToString();
    }

    private static double Quantile(double[] xs, double q)
    {
        if (xs.Length == 0)
        {
            return double.NaN;
        }

        Array.Sort(xs);
        return xs[Math.Min(xs.Length - 1, (int)(q * xs.Length))];
    }

    /// <summary>A stream sent at <paramref name="sent"/> (told to Keystone in <see cref="SentHeader"/>); returns when its first content arrived.</summary>
    private static async Task<(long Headers, long First)> FirstTokenAtAsync(HttpClient client, Target t, long sent)
    {
        using var request = Request(t, stream: true);
        request.Headers.TryAddWithoutValidation(SentHeader, sent.ToString(CultureInfo.InvariantCulture));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var headers = Stopwatch.GetTimestamp();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{t.Name} answered {(int)response.StatusCode} to a stream: {await response.Content.ReadAsStringAsync()}");
        }

        await using var body = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(body, Encoding.UTF8);
        long first = 0;
        var done = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (first == 0 && line.StartsWith("data: {", StringComparison.Ordinal) && line.Contains("\"content\":\"", StringComparison.Ordinal)
                && !line.Contains("\"content\":\"\"", StringComparison.Ordinal))
            {
                first = Stopwatch.GetTimestamp();
            }

            done |= line == "data: [DONE]";
        }

        return first != 0 && done ? (headers, first) : throw new InvalidOperationException($"{t.Name}: the stream ended without a token or without [DONE].");
    }
}
