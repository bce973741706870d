using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// Issue 26's goodput ladder alone (<c>--api --goodput [--ladder 500,1000,…] [--step seconds] [--no-series]</c>, a few
/// minutes): Keystone and Keystone with recording off (and a baseline build or a variant beside them, as in
/// <c>--first-token</c>), each a process of its own with <see cref="StallProbe"/> inside, warmed up and taken through the
/// same series before the ladder as in the full run (throughput at 16 callers, latency at one caller), then the open-loop
/// steps against the 20 ms mock, the paths interleaved step by step so the shared machine's load lands on each alike.
/// After every step each process reports what it saw: where the slow requests were slow, the pool's queueing delay, GC
/// pauses, slow database calls and which threads used the CPU.
/// </summary>
internal static partial class PeerReport
{
    /// <param name="smoke">As briefly as it still runs every part (the CI smoke test): short warm-ups, and any failed request fails the run.</param>
    public static async Task<string> RunGoodputAsync(int[] rates, TimeSpan step, bool series, TextWriter progress, bool smoke = false)
    {
        var load = LoadAverage();
        var stealBefore = CpuTimes();
        using var cts = new CancellationTokenSource();
        await using var mock = await PeerMock.StartAsync(Answer, Hold);
        var diag = new Dictionary<string, string> { ["KEYSTONE_BENCH_DIAG"] = "1" };
        await using var keystones = await StartKeystonesAsync(mock.BaseUrl, cts.Token, diag);
        var targets = keystones.Targets;

        progress.WriteLine($"goodput: {string.Join("; ", targets.Select(t => $"{t.Name} pid {t.ProcessId} ({t.Child!.RuntimeNote})"))}");
        using var client = ApiBenchmarkHost.CreateClient();
        foreach (var t in targets)
        {
            await WarmUpAsync(client, t, TimeSpan.FromSeconds(smoke ? 0.5 : 4), smoke ? 3 : 50);
        }

        if (series)
        {
            // As in the full run before its ladder: 5 s at 16 callers per path (thousands of calls for the recorder and
            // the indexer), then 300 calls at one caller, interleaved.
            foreach (var t in targets)
            {
                var count = await ClosedLoopAsync(client, t, TimeSpan.FromSeconds(5), Callers);
                await t.Child!.FlushAsync(cts.Token);
                progress.WriteLine(FormattableString.Invariant($"series: {t.Name} {count / 5.0:0} req/s at {Callers} callers"));
            }

            for (var i = 0; i < 300; i++)
            {
                foreach (var t in targets)
                {
                    await CallAsync(client, t, stream: false);
                }
            }
        }

        foreach (var t in targets)
        {
            await t.Child!.FlushAsync(cts.Token);
            await t.Child.DiagAsync(cts.Token); // start each step's account afresh
        }

        mock.AnswerDelay = SlowUpstream;
        foreach (var t in targets)
        {
            await OpenLoopAsync(client, t, rates[0] / 2, TimeSpan.FromSeconds(smoke ? 0.5 : 2));
            await t.Child!.FlushAsync(cts.Token);
            await t.Child.DiagAsync(cts.Token);
        }

        var findings = new StringBuilder();
        var failed = new HashSet<Target>();
        foreach (var rate in rates)
        {
            foreach (var t in targets.Where(t => !failed.Contains(t)))
            {
                var result = await OpenLoopAsync(client, t, rate, step);
                var steady = result.Errors == 0 && result.P99 <= P99Limit && result.Achieved >= rate * 0.95;
                t.GoodputSteps.Add(FormattableString.Invariant($"{rate}/s: {result.Achieved:0}/s p99 {result.P99:0.0} ms{(result.Errors > 0 ? $", {result.Errors} errors" : "")}"));
                Interlocked.Add(ref t.Errors, result.Errors);
                await t.Child!.FlushAsync(cts.Token);
                var seen = await t.Child.DiagAsync(cts.Token);
                progress.WriteLine($"goodput {t.Name} {t.GoodputSteps[^1]}{(steady ? "" : " (not steady)")}");
                foreach (var line in seen)
                {
                    progress.WriteLine("    " + line);
                }

                findings.AppendLine(CultureInfo.InvariantCulture, $"- {t.Name}, {t.GoodputSteps[^1]}:");
                foreach (var line in seen)
                {
                    findings.AppendLine(CultureInfo.InvariantCulture, $"  - `{line}`");
                }

                if (steady)
                {
                    t.Goodput = rate;
                }
                else
                {
                    failed.Add(t);
                }
            }

            if (failed.Count == targets.Count)
            {
                break;
            }
        }

        if (smoke && targets.FirstOrDefault(t => t.Errors > 0) is { } failing)
        {
            throw new InvalidOperationException($"{failing.Name} failed {failing.Errors} requests during the smoke run.");
        }

        var md = new StringBuilder();
        md.AppendLine(FormattableString.Invariant(
            $"{(smoke ? "**Smoke run (figures mean nothing)**. " : "")}Command: `dotnet run -c Release --project tests/Keystone.Benchmarks -- --api --goodput {(smoke ? "--smoke" : $"--ladder {string.Join(',', rates)} --step {step.TotalSeconds:0.#}{(series ? "" : " --no-series")}")}`; ")
            + FormattableString.Invariant($"{Environment.ProcessorCount} cores; load average before {load}, after {LoadAverage()}; CPU steal {Steal(stealBefore, CpuTimes())}. ")
            + FormattableString.Invariant($"Open loop against a mock that answers in {SlowUpstream.TotalMilliseconds:0} ms; steady = p99 ≤ {P99Limit:0} ms, no errors, ≥ 95 % achieved. ")
            + string.Join("; ", targets.Select(t => $"{t.Name}: {t.Child!.RuntimeNote}")) + ".");
        md.AppendLine();
        md.AppendLine("| Path | Goodput | Steps |");
        md.AppendLine("|---|---|---|");
        foreach (var t in targets)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {t.Name} | {(t.Goodput > 0 ? t.Goodput.ToString("N0", CultureInfo.InvariantCulture) + "/s" : "below " + rates[0] + "/s")} | {string.Join("; ", t.GoodputSteps)} |");
        }

        md.AppendLine();
        md.AppendLine("What each process saw per step (StallProbe):");
        md.AppendLine();
        md.Append(findings);
        return md.ToString();
    }
}
