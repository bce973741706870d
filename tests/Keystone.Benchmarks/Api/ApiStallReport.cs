using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Web.Features.Api;
using Keystone.Web.Platform.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// A provider stall under open-loop load (<c>--api --stall</c>): the real app with its default limits, 500 req/s
/// offered throughout, the mock answering in 20 ms, then in 3 s for 10 s, then in 20 ms again. What a gateway must do
/// then: answer what it can, refuse the excess at once with 503 <c>server_overloaded</c> (decision 17) instead of
/// piling up sockets and memory, and be back to normal latency as soon as the provider is.
/// </summary>
internal static class ApiStallReport
{
    private const int Rate = 500;
    private static readonly TimeSpan Phase = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Normal = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan Stalled = TimeSpan.FromSeconds(3);

    private static readonly byte[] Body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
    {
        model = "bench",
        messages = new object[] { new { role = "user", content = "Summarize what an LLM gateway does." } },
        max_tokens = 64,
    }));

    private sealed record PhaseResult(string Name, int Sent, int Ok, int Shed, int OtherErrors, double OkP50, double OkP99, double ShedP99,
        int PeakInFlight, int PeakSockets, long PeakWorkingSetMb);

    public static async Task<string> RunAsync(TextWriter progress)
    {
        await using var host = await ApiBenchmarkHost.StartAsync();
        // Enough connections that the client is not what limits the pile-up: 500 req/s × 3 s is 1,500 waiting calls,
        // beyond the app's default of 1,000 in flight.
        using var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = 4000,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseCookies = false,
        }) { Timeout = TimeSpan.FromSeconds(30) };
        var shedder = host.Services.GetRequiredService<ApiLoadShedder>();

        host.Upstream.AnswerDelay = Normal;
        progress.WriteLine("stall: warming up (20 s at the normal answer time)");
        await RunPhaseAsync(client, host, shedder, "warm-up", TimeSpan.FromSeconds(20));

        var results = new List<PhaseResult>();
        results.Add(await RunPhaseAsync(client, host, shedder, "before: provider answers in 20 ms", Phase));
        host.Upstream.AnswerDelay = Stalled;
        results.Add(await RunPhaseAsync(client, host, shedder, "stall: provider answers in 3 s", Phase));
        host.Upstream.AnswerDelay = Normal;
        results.Add(await RunPhaseAsync(client, host, shedder, "after: provider answers in 20 ms again", Phase));
        foreach (var r in results)
        {
            progress.WriteLine($"{r.Name}: ok {r.Ok} shed {r.Shed} other {r.OtherErrors} p50 {r.OkP50:0.0} p99 {r.OkP99:0.0} shed p99 {r.ShedP99:0.0} in flight ≤ {r.PeakInFlight} sockets ≤ {r.PeakSockets} working set ≤ {r.PeakWorkingSetMb} MB");
        }

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"Open loop at {Rate} req/s throughout (latency from each request's due time), the app's default `Api:MaxConcurrentRequests` ({host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiOptions>>().Value.MaxConcurrentRequests:N0}); each phase {Phase.TotalSeconds:0} s, counted by when requests were sent:");
        md.AppendLine();
        md.AppendLine("| Phase | Sent | 200 | 503 `server_overloaded` | Other errors | 200: p50 / p99 | 503: p99 | Peak in flight (app) | Peak open sockets (process) | Peak working set |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Name} | {r.Sent:N0} | {r.Ok:N0} | {r.Shed:N0} | {r.OtherErrors:N0} | {r.OkP50:0.0} / {r.OkP99:0.0} ms | {(r.Shed == 0 ? "—" : $"{r.ShedP99:0.0} ms")} | {r.PeakInFlight:N0} | {r.PeakSockets:N0} | {r.PeakWorkingSetMb:N0} MB |");
        }

        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores; client, app and mock share the process (sockets and memory are the process's).");
        return md.ToString();
    }

    private static async Task<PhaseResult> RunPhaseAsync(HttpClient client, ApiBenchmarkHost host, ApiLoadShedder shedder, string name, TimeSpan length)
    {
        var total = (int)(Rate * length.TotalSeconds);
        var ok = new double[total];
        var shed = new double[total];
        var outcome = new int[total]; // 1 ok, 2 shed, 3 other
        var calls = new List<Task>(total);
        var origin = Stopwatch.GetTimestamp();
        var ticksPerRequest = Stopwatch.Frequency / (double)Rate;
        int peakInFlight = 0, peakSockets = 0;
        long peakWorkingSet = 0;
        var sent = 0;
        var lastSample = 0L;
        while (sent < total)
        {
            var due = (int)Math.Min(total, ((Stopwatch.GetTimestamp() - origin) / ticksPerRequest) + 1);
            for (; sent < due; sent++)
            {
                var index = sent;
                var dueAt = origin + (long)(index * ticksPerRequest);
                calls.Add(Task.Run(async () =>
                {
                    try
                    {
                        using var request = host.ChatRequest(true, Body);
                        using var response = await client.SendAsync(request);
                        await response.Content.ReadAsByteArrayAsync();
                        var ms = Stopwatch.GetElapsedTime(dueAt).TotalMilliseconds;
                        (outcome[index], ok[index], shed[index]) = response.StatusCode switch
                        {
                            HttpStatusCode.OK => (1, ms, double.NaN),
                            HttpStatusCode.ServiceUnavailable => (2, double.NaN, ms),
                            _ => (3, double.NaN, double.NaN),
                        };
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                    {
                        (outcome[index], ok[index], shed[index]) = (3, double.NaN, double.NaN);
                    }
                }));
            }

            if (Stopwatch.GetElapsedTime(lastSample) > TimeSpan.FromMilliseconds(100))
            {
                lastSample = Stopwatch.GetTimestamp();
                peakInFlight = Math.Max(peakInFlight, shedder.InFlight);
                peakSockets = Math.Max(peakSockets, OpenSockets());
                peakWorkingSet = Math.Max(peakWorkingSet, Environment.WorkingSet / (1024 * 1024));
            }

            await Task.Delay(1);
        }

        // Keep sampling while the phase's calls finish (a stall's calls outlive their sending window).
        var all = Task.WhenAll(calls);
        while (!all.IsCompleted)
        {
            peakInFlight = Math.Max(peakInFlight, shedder.InFlight);
            peakSockets = Math.Max(peakSockets, OpenSockets());
            peakWorkingSet = Math.Max(peakWorkingSet, Environment.WorkingSet / (1024 * 1024));
            await Task.WhenAny(all, Task.Delay(100));
        }

        var okP = Percentiles.Of(ok.Where(x => !double.IsNaN(x)).ToArray());
        var shedP = Percentiles.Of(shed.Where(x => !double.IsNaN(x)).ToArray());
        return new PhaseResult(name, total, outcome.Count(o => o == 1), outcome.Count(o => o == 2), outcome.Count(o => o == 3),
            okP.P50, okP.P99, shedP.P99, peakInFlight, peakSockets, peakWorkingSet);
    }

    /// <summary>Open sockets of this process (client, app and mock ends alike).</summary>
    private static int OpenSockets()
    {
        var count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // The descriptor closed while we looked.
            }
        }

        return count;
    }
}
