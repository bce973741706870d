using Microsoft.AspNetCore.Builder;
using System.Runtime;
using Keystone.Gateway;
using Keystone.Gateway.Providers.Local;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// The benchmark as a target process of the peer report (<c>--serve keystone|bare &lt;upstream&gt; [--no-recording]</c>):
/// each gateway runs in a process of its own, so its CPU time and resident memory are its own (read from /proc by the
/// parent), not mixed with the load client's and the mock's. Talks to the parent in lines: it prints
/// <c>READY &lt;url&gt; &lt;api key&gt; &lt;data folder&gt;</c> once serving, answers <c>flush</c> with <c>FLUSHED &lt;calls written&gt;</c>
/// <c>model-loaded|model-not-loaded</c> (whether the local embedding model is in memory) once the recorder has written
/// every call so far, answers <c>memory</c> with <c>MEMORY key=value …</c> (<see cref="MemorySnapshot"/>: where its resident
/// memory goes) and <c>memory-after-gc</c> with the same after a full compacting collection (what is live), and stops on
/// <c>quit</c> or when its input closes.
/// </summary>
internal static class ServeMode
{
    public static async Task RunAsync(string[] args)
    {
        var at = Array.IndexOf(args, "--serve");
        var kind = args[at + 1];
        var upstream = new Uri(args[at + 2]);
        if (kind == "bare")
        {
            await using var bare = await BareProxy.StartAsync(new Uri(upstream, "chat/completions"));
            Console.WriteLine($"READY {bare.Url} - -");
            await ServeCommandsAsync(() => Task.FromResult((0L, false)), stagesOfBare: true);
            return;
        }

        var settings = new Dictionary<string, string?>
        {
            // 1,000 concurrent streams is a measured point; the default limit is exactly 1,000 in flight, and the
            // report's own warm-up call may still be finishing.
            ["Api:MaxConcurrentRequests"] = "1100",
        };
        if (args.Contains("--no-recording"))
        {
            settings["Gateway:RecordingDisabledForBenchmarks"] = "true";
        }

        // The first token's stage profile (--stages): on only in this process, for requests that carry the client's send time.
        var stages = Environment.GetEnvironmentVariable("KEYSTONE_BENCH_STAGES") == "1" ? new StageProfiles() : null;
        await using var host = await ApiBenchmarkHost.StartAsync(upstream, settings, productEmbeddings: true, stages);
        // The goodput run's stall hunt (issue 26): what this process did while requests were slow, per ladder step.
        using var probe = Environment.GetEnvironmentVariable("KEYSTONE_BENCH_DIAG") == "1" ? new StallProbe() : null;
        // A tenant with a cap, as a paying tenant has: every call reserves on it (far from its limit: $1,000,000 a month).
        await host.Services.GetRequiredService<IBudgetService>().SetAsync(host.TenantId,
            [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Month, 1_000_000_000_000)], null, null, CancellationToken.None);
        Console.WriteLine($"READY {new Uri(host.AppOrigin, "/v1/chat/completions")} {host.ApiKey} {host.DataDirectory}");
        await ServeCommandsAsync(async () =>
        {
            await host.Recorder.FlushAsync(CancellationToken.None);
            return (host.Recorder.Written, LocalEmbeddingModel.IsLoaded);
        }, () => probe?.Take() ?? "no probe (KEYSTONE_BENCH_DIAG=1 starts one)", stages);
    }

    private static async Task ServeCommandsAsync(Func<Task<(long Written, bool ModelLoaded)>> flush, Func<string>? diag = null,
        StageProfiles? stages = null, bool stagesOfBare = false)
    {
        AllocationSampler? sampler = null;
        while (await Console.In.ReadLineAsync() is { } line && line != "quit")
        {
            if (line == "allocated")
            {
                // Bytes this process has allocated so far (the profile mode's bytes per request: a difference of two).
                Console.WriteLine(FormattableString.Invariant($"ALLOCATED {GC.GetTotalAllocatedBytes(precise: true)}"));
            }
            else if (line == "sample-start")
            {
                sampler?.Dispose();
                sampler = new AllocationSampler();
                Console.WriteLine("SAMPLING started");
            }
            else if (line == "sample-stop")
            {
                // Which types the traffic since sample-start allocated (share of the sampled bytes), largest first.
                var top = sampler?.Top(30).Select(t => FormattableString.Invariant($"{t.Share:0.0000}={t.Type}")) ?? [];
                sampler?.Dispose();
                sampler = null;
                // Tab-separated: type names hold '|' and '=' (local functions: <<SendAsync>g__Core|83_0>d), never a tab.
                Console.WriteLine("SAMPLE " + string.Join('\t', top));
            }
            else if (line == "flush")
            {
                var (written, loaded) = await flush();
                Console.WriteLine($"FLUSHED {written} {(loaded ? "model-loaded" : "model-not-loaded")}");
            }
            else if (line == "stages")
            {
                Console.WriteLine("STAGES -;" + (stagesOfBare ? StageProfiles.Take(BareProxy.Flushes) : stages?.Take() ?? ""));
            }
            else if (line == "diag")
            {
                Console.WriteLine("DIAG " + (diag?.Invoke() ?? "no probe"));
            }
            else if (line is "memory" or "memory-after-gc")
            {
                if (line == "memory-after-gc")
                {
                    GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                    GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                    GC.WaitForPendingFinalizers();
                }

                Console.WriteLine("MEMORY " + MemorySnapshot.Take().Serialize());
            }
        }
    }
}

/// <summary>
/// The first token's stage profile in the serve mode (<c>KEYSTONE_BENCH_STAGES=1</c>): the outermost middleware starts a
/// profile for each request that carries the client's send time (<see cref="PeerReport.SentHeader"/>) and keeps it when
/// the request ends; <c>stages</c> hands them to the parent.
/// </summary>
internal sealed class StageProfiles : Microsoft.AspNetCore.Hosting.IStartupFilter
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<long[]> _done = new();

    public StageProfiles() => Keystone.Gateway.Telemetry.FirstTokenStages.Enable();

    public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, inner) =>
        {
            if (!context.Request.Headers.TryGetValue(PeerReport.SentHeader, out var sent)
                || !long.TryParse(sent.ToString(), System.Globalization.CultureInfo.InvariantCulture, out var sentAt))
            {
                await inner(context);
                return;
            }

            var stages = Keystone.Gateway.Telemetry.FirstTokenStages.Begin();
            stages[(int)Keystone.Gateway.Telemetry.FirstTokenStages.Stage.AppStart] = System.Diagnostics.Stopwatch.GetTimestamp();
            stages[(int)Keystone.Gateway.Telemetry.FirstTokenStages.Stage.ClientSent] = sentAt;
            await inner(context);
            _done.Enqueue(stages);
        });
        next(app);
    };

    /// <summary>The profiles since the last call: one per request, stages comma-separated, requests semicolon-separated.</summary>
    public string Take() => Take(_done);

    public static string Take(System.Collections.Concurrent.ConcurrentQueue<long[]> done)
    {
        var parts = new List<string>();
        while (done.TryDequeue(out var s))
        {
            parts.Add(string.Join(',', s.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        }

        return string.Join(';', parts);
    }
}
