using System.Diagnostics;
using System.Globalization;

namespace Keystone.Benchmarks.Tests;

/// <summary>
/// Keeps every path of the issue-26 benchmark runnable (benchmarks themselves never run in CI): the benchmark is started as
/// a person would start it, with <c>--api --peers --smoke</c>, which runs direct, the bare proxy, Keystone, Keystone with
/// recording off and Portkey's gateway (installed with npm on first use) for a fraction of a second each and fails on any
/// failed request. A failed npm install fails this test with npm's reason; it is never skipped.
/// </summary>
public sealed class BenchmarkSmokeTests
{
    [Fact]
    public async Task PeersSmoke_EveryPathAnswersAndTheTableHasEachFigure()
    {
        var (code, output, errors) = await RunBenchmarkAsync("--api", "--peers", "--smoke");

        Assert.True(code == 0, $"the benchmark exited with {code}:\n{errors}\n{output}");
        var table = output.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToList();
        Assert.Contains(table, l => l.StartsWith("| Measure | Direct (mock) | Bare proxy | Keystone | Keystone, recording off | Portkey |", StringComparison.Ordinal));
        foreach (var measure in new[] { "Throughput, 16 callers", "Process CPU per request", "Added latency p50", "Added latency p99", "Added time to first token",
                     "Goodput", "Resident memory after the throughput series", "Resident memory, 20 concurrent streams", "Stored bytes per call" })
        {
            var row = Assert.Single(table, l => l.StartsWith("| " + measure, StringComparison.Ordinal));
            Assert.DoesNotContain("NaN", row, StringComparison.Ordinal);
        }

        // Every gateway process answered and was measured: a throughput and a CPU time for each, memory for each process.
        var throughput = Cells(table.Single(l => l.StartsWith("| Throughput", StringComparison.Ordinal)));
        Assert.All(throughput[1..6], c => Assert.True(double.Parse(c.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture) > 0, $"throughput cell '{c}'"));
        var streams = Cells(table.Single(l => l.StartsWith("| Resident memory, 20 concurrent streams", StringComparison.Ordinal)));
        Assert.All(streams[2..6], c => Assert.EndsWith("(20)", c, StringComparison.Ordinal));
        Assert.Contains("Portkey PR #1551 applied", output, StringComparison.Ordinal);
        // Keystone ran with the product's embed alias (the local model) and no call embedded: the model stayed out of memory.
        Assert.Contains("as no call embedded, never loaded", output, StringComparison.Ordinal);
        Assert.Contains(table, l => l.StartsWith("| `llm_calls` |", StringComparison.Ordinal));
        // Each Keystone process accounts for its resident memory from inside (issue 26, item 1): the resident set and the
        // managed heap's share at every point (after start, after the series, with streams open, at the end, after a full GC).
        foreach (var row in new[] { "| Resident (VmRSS) |", "| GC: committed by the managed heap |", "| Mapped assemblies (.dll) |" })
        {
            var rows = table.Where(l => l.StartsWith(row, StringComparison.Ordinal)).ToList();
            Assert.Equal(2, rows.Count);
            Assert.All(rows, r => Assert.All(Cells(r)[1..], c => Assert.True(
                double.Parse(c.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture) > 0, $"{row} cell '{c}'")));
            Assert.All(rows, r => Assert.Equal(6, Cells(r).Length));
        }
    }

    /// <summary>
    /// <c>--api --goodput --smoke</c> (issue 26's stall hunt): Keystone and Keystone with recording off through one open-loop
    /// step, each process's stall probe reporting what it saw: the requests it served (from the server's own activities),
    /// the pool and GC figures and the CPU per thread.
    /// </summary>
    [Fact]
    public async Task GoodputSmoke_BothPathsAnswerAndEachProbeReportsTheRequestsItServed()
    {
        var (code, output, errors) = await RunBenchmarkAsync("--api", "--goodput", "--smoke");

        Assert.True(code == 0, $"the benchmark exited with {code}:\n{errors}\n{output}");
        var table = output.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToList();
        // Every request answered (a failed one fails the smoke run); whether 50/s was steady on a loaded box is not the point.
        Assert.Contains(table, l => l.StartsWith("| Keystone | ", StringComparison.Ordinal) && l.Contains("| 50/s: ", StringComparison.Ordinal));
        Assert.Contains(table, l => l.StartsWith("| Keystone, recording off | ", StringComparison.Ordinal) && l.Contains("| 50/s: ", StringComparison.Ordinal));
        var probes = output.Split('\n').Where(l => l.Contains("in the server p50", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, probes.Count);
        Assert.All(probes, p =>
        {
            Assert.Matches(@"requests [1-9]\d*: in the server", p);
            Assert.Contains("GC pause total", p, StringComparison.Ordinal);
        });
        Assert.Contains("threads (CPU ms / waited for a CPU ms)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MemorySmoke_BothKeystonesAnswerAndTheCurveHasEachPoint()
    {
        var (code, output, errors) = await RunBenchmarkAsync("--api", "--peers", "--memory", "--smoke");

        Assert.True(code == 0, $"the benchmark exited with {code}:\n{errors}\n{output}");
        var table = output.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToList();
        Assert.Contains(table, l => l.StartsWith("| Resident memory (MB) | Keystone | Keystone, recording off |", StringComparison.Ordinal));
        foreach (var point in new[] { "| after start |", "| after the throughput series (peak so far) |", "| 20 streams open |", "| peak over the run |",
                     "| req/s at 16 callers (median of the rounds) |" })
        {
            var row = Assert.Single(table, l => l.StartsWith(point, StringComparison.Ordinal));
            Assert.All(Cells(row)[1..3], c => Assert.True(double.Parse(c.Split(' ')[0].Replace(",", "", StringComparison.Ordinal),
                System.Globalization.CultureInfo.InvariantCulture) > 0, $"{point} cell '{c}'"));
        }

        Assert.Equal(2, table.Count(l => l.StartsWith("| Resident (VmRSS) |", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task ProfileSmoke_EachProcessHasItsCpuAndBytesPerRequest()
    {
        // The request path's profile mode (issue 26, decision 58): both processes measured, Keystone's allocations sampled.
        var (code, output, errors) = await RunBenchmarkAsync("--api", "--peers", "--profile", "1", "--no-recording");

        Assert.True(code == 0, $"the benchmark exited with {code}:\n{errors}\n{output}");
        Assert.Contains("PROFILE Keystone pid ", errors, StringComparison.Ordinal);
        var table = output.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToList();
        foreach (var path in new[] { "| bare proxy |", "| Keystone |" })
        {
            var cells = Cells(Assert.Single(table, l => l.StartsWith(path, StringComparison.Ordinal)));
            Assert.All(cells[1..], c => Assert.True(
                double.Parse(c.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture) > 0, $"{path} cell '{c}'"));
        }

        Assert.Contains(output.Split('\n'), l => l.StartsWith("- ", StringComparison.Ordinal) && l.Contains("System.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TokenizerSmoke_BothCountersAgreeAndTheTableHasEachRow()
    {
        // The compact o200k counter beside Microsoft.ML.Tokenizers (issue 26, decision 67); the mode stops with an error
        // when the two disagree on a count.
        var (code, output, errors) = await RunBenchmarkAsync("--tokenizer", "1");

        Assert.True(code == 0, $"the benchmark exited with {code}:\n{errors}\n{output}");
        foreach (var row in new[] { "| managed heap held once loaded |", "| first load (read + build) |", "| count of a 2 KB prompt |", "| allocated per count |" })
        {
            Assert.Contains(output.Split('\n'), l => l.StartsWith(row, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task RecorderSmoke_BothLayoutsOfBothDatabasesStoreAndReportTheirBytes()
    {
        // The recorder alone (issue 26: docs/benchmarks.md "Recorder cost by stage"; decisions 56, 69, 71): SQLite row by row
        // and packed with the indexer's hand-off, PostgreSQL through SaveChanges and through the column-array writer.
        var (code, output, errors) = await RunBenchmarkAsync("--recorder", "200", "50", "--realistic", "--postgres");

        Assert.True(code == 0, $"the benchmark exited with {code}:\n{errors}\n{output}");
        var lines = output.Split('\n');
        foreach (var section in new[] { "SQLite, payloads compressed row by row", "SQLite, **payloads packed per batch and tenant**",
                     "PostgreSQL, **payloads per row**", "PostgreSQL, **payloads packed**" })
        {
            Assert.Contains(lines, l => l.StartsWith(section, StringComparison.Ordinal));
        }

        // Each PostgreSQL layout reports its total bytes per call, and the packed one stores its payloads in packs.
        var totals = lines.Where(l => l.StartsWith("| **Total** |", StringComparison.Ordinal)).Select(l => Cells(l)[1].Trim('*')).ToList();
        Assert.Equal(2, totals.Count);
        Assert.All(totals, t => Assert.True(double.Parse(t, NumberStyles.Number, CultureInfo.InvariantCulture) > 0, t));
        Assert.Contains(lines, l => l.StartsWith("| llm_trace_packs (toast) |", StringComparison.Ordinal));
    }

    private static string[] Cells(string row) => [.. row.Trim().Trim('|').Split('|').Select(c => c.Trim())];

    private static async Task<(int Code, string Output, string Errors)> RunBenchmarkAsync(params string[] args)
    {
        // …/tests/Keystone.Benchmarks.Tests/bin/<Configuration>/<tfm>/ → …/tests/Keystone.Benchmarks/bin/<Configuration>/<tfm>/
        var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tests = tfm.Parent!.Parent!.Parent!.Parent!;
        var dll = Path.Combine(tests.FullName, "Keystone.Benchmarks", "bin", tfm.Parent.Name, tfm.Name, "Keystone.Benchmarks.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution first");

        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The benchmark smoke run took over 5 minutes:\n{await errors}");
        }

        return (process.ExitCode, await output, await errors);
    }
}
