using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Keystone.Benchmarks;

// A gateway of the peer report as a process of its own (started by the report itself, not by hand).
if (args.Contains("--serve"))
{
    await Keystone.Benchmarks.Api.ServeMode.RunAsync(args);
    return;
}

// One run, a few minutes on 2 cores: BenchmarkDotNet's short run (in process) for the per-call mean and allocations,
// then the per-call percentiles, throughput, time to first token and memory report. Not part of CI.
//   dotnet run -c Release --project tests/Keystone.Benchmarks
// Trace search at scale (SQLite, one million traces by default):
//   dotnet run -c Release --project tests/Keystone.Benchmarks -- --traces [rows] [--explain | --explain-only]
if (args.Contains("--traces"))
{
    var at = Array.IndexOf(args, "--traces");
    var rows = at + 1 < args.Length && int.TryParse(args[at + 1], out var n) ? n : 0;
    Console.WriteLine("## Trace search");
    Console.WriteLine();
    Console.WriteLine(await Keystone.Benchmarks.Traces.TraceSearchReport.RunAsync(rows > 0 ? rows : 1_000_000,
        args.Contains("--explain") || args.Contains("--explain-only"), measure: !args.Contains("--explain-only")));
    return;
}

// The HTTP API (docs/benchmarks.md, "HTTP API (issue 4)"): the real app on Kestrel versus the loopback mock, ~6 minutes.
//   dotnet run -c Release --project tests/Keystone.Benchmarks -- --api
if (args.Contains("--api"))
{
    if (args.Contains("--goodput"))
    {
        // Issue 26's goodput ladder alone (docs/benchmarks.md), Keystone and Keystone with recording off as processes of
        // their own, each with a stall probe that reports per step what the process did while requests were slow:
        //   dotnet run -c Release --project tests/Keystone.Benchmarks -- --api --goodput [--ladder 500,1000,2000] [--step 5] [--no-series] [--smoke]
        // KEYSTONE_BENCH_BASELINE / KEYSTONE_BENCH_VARIANT add a third Keystone (another build, or other settings) as in --first-token.
        var ladderAt = Array.IndexOf(args, "--ladder");
        var ladder = ladderAt >= 0 && ladderAt + 1 < args.Length
            ? args[ladderAt + 1].Split(',').Select(r => int.Parse(r, System.Globalization.CultureInfo.InvariantCulture)).ToArray()
            : [500, 1000, 2000, 3000, 4000, 5000, 6000];
        var stepAt = Array.IndexOf(args, "--step");
        var step = stepAt >= 0 && stepAt + 1 < args.Length ? double.Parse(args[stepAt + 1], System.Globalization.CultureInfo.InvariantCulture) : 5;
        Console.WriteLine("## Goodput ladder with a stall probe");
        Console.WriteLine();
        // --smoke: one step of 50 req/s for a second, no series (the CI test keeps the mode and its probe runnable).
        var smoke = args.Contains("--smoke");
        Console.WriteLine(await Keystone.Benchmarks.Api.PeerReport.RunGoodputAsync(smoke ? [50] : ladder, TimeSpan.FromSeconds(smoke ? 1 : step),
            !smoke && !args.Contains("--no-series"), Console.Error, smoke));
        return;
    }

    if (args.Contains("--peers"))
    {
        // Issue 26 (docs/benchmarks.md, "Performance against the physical limit and a peer"): direct, bare proxy, Keystone,
        // Keystone with recording off and Portkey's gateway (installed with npm), each gateway a process of its own,
        // interleaved; about 10 minutes. --smoke runs every path very briefly (the CI test does); --quick one round and a
        // short ladder (about 3 minutes, to compare settings).
        //   dotnet run -c Release --project tests/Keystone.Benchmarks -- --api --peers [--smoke | --quick]
        if (args.Contains("--stages"))
        {
            // Where one stream's first token goes inside Keystone, stage by stage (issue 26), about a minute:
            //   dotnet run -c Release --project tests/Keystone.Benchmarks -- --api --peers --stages [samples] [--gap ms] [--after-first ms]
            var at = Array.IndexOf(args, "--stages");
            var samples = at + 1 < args.Length && int.TryParse(args[at + 1], out var n) ? n : 1000;
            var gapAt = Array.IndexOf(args, "--gap");
            var gap = gapAt >= 0 && gapAt + 1 < args.Length && int.TryParse(args[gapAt + 1], out var g) ? TimeSpan.FromMilliseconds(g) : TimeSpan.Zero;
            // --after-first <ms>: the mock pauses after each stream's first words (a model's next token comes later, not in a burst).
            var afterAt = Array.IndexOf(args, "--after-first");
            var after = afterAt >= 0 && afterAt + 1 < args.Length && int.TryParse(args[afterAt + 1], out var a) ? TimeSpan.FromMilliseconds(a) : TimeSpan.Zero;
            Console.WriteLine(await Keystone.Benchmarks.Api.PeerReport.RunStagesAsync(samples, Console.Error, gap, after));
            return;
        }

        if (args.Contains("--first-token"))
        {
            // Only latency and time to first token at one caller (direct, bare proxy, Keystone), about a minute:
            //   dotnet run -c Release --project tests/Keystone.Benchmarks -- --api --peers --first-token [samples]
            var at = Array.IndexOf(args, "--first-token");
            var samples = at + 1 < args.Length && int.TryParse(args[at + 1], out var n) ? n : 1000;
            // --gap <ms>: an idle pause before each call and stream, as the full run has between one path's samples (the other
            // paths' calls, Portkey's streams of ~28 ms): every gateway's threads park in it, as on a quiet box between calls.
            var gapAt = Array.IndexOf(args, "--gap");
            var gap = gapAt >= 0 && gapAt + 1 < args.Length && int.TryParse(args[gapAt + 1], out var g) ? TimeSpan.FromMilliseconds(g) : TimeSpan.Zero;
            Console.WriteLine(await Keystone.Benchmarks.Api.PeerReport.RunFirstTokenAsync(samples, Console.Error, gap));
            return;
        }

        if (args.Contains("--memory"))
        {
            // Only the memory curve (Keystone, recording off, and a variant or baseline build beside them), about three minutes:
            //   dotnet run -c Release --project tests/Keystone.Benchmarks -- --api --peers --memory [--smoke]
            Console.WriteLine(await Keystone.Benchmarks.Api.PeerReport.RunMemoryAsync(args.Contains("--smoke"), Console.Error));
            return;
        }

        if (args.Contains("--profile"))
        {
            // Where a request's CPU and allocations go, the bare proxy and Keystone as processes of their own, realistic
            // payload; prints each process's pid before its window for a profiler:
            //   KEYSTONE_CHILD_DOTNET_PerfMapEnabled=1 dotnet run -c Release --project tests/Keystone.Benchmarks -- --api --peers --profile [seconds] [--no-recording]
            var at = Array.IndexOf(args, "--profile");
            var seconds = at + 1 < args.Length && int.TryParse(args[at + 1], out var n) ? n : 15;
            Console.WriteLine(await Keystone.Benchmarks.Api.PeerReport.RunProfileAsync(seconds, recording: !args.Contains("--no-recording"), Console.Error));
            return;
        }

        Console.WriteLine("## Performance against the physical limit and a peer");
        Console.WriteLine();
        Console.WriteLine(await Keystone.Benchmarks.Api.PeerReport.RunAsync(args.Contains("--smoke"), Console.Error, quick: args.Contains("--quick")));
        return;
    }

    if (args.Contains("--profile"))
    {
        // Only traffic through Keystone after the warm-up, to attach a profiler (perf with DOTNET_PerfMapEnabled=1, or
        // dotnet-trace collect -p <pid>):  -- --api --profile [seconds] [--no-recording] [--path keystone|bare|direct]; prints req/s and process CPU per request
        var at = Array.IndexOf(args, "--profile");
        var seconds = at + 1 < args.Length && int.TryParse(args[at + 1], out var s) ? s : 60;
        var pathAt = Array.IndexOf(args, "--path");
        var path = pathAt >= 0 && pathAt + 1 < args.Length ? args[pathAt + 1] : "keystone";
        await Keystone.Benchmarks.Api.ApiLoadReport.ProfileAsync(TimeSpan.FromSeconds(seconds), recording: !args.Contains("--no-recording"), path, Console.Error);
        return;
    }

    if (args.Contains("--throughput"))
    {
        // The throughput series alone, repeated, with their ratios:  -- --api --throughput [rounds]
        var at = Array.IndexOf(args, "--throughput");
        var rounds = at + 1 < args.Length && int.TryParse(args[at + 1], out var r) ? r : 3;
        await Keystone.Benchmarks.Api.ApiLoadReport.ThroughputOnlyAsync(rounds, Console.Error);
        return;
    }

    if (args.Contains("--stall"))
    {
        // A 10-second provider stall under 500 req/s open-loop load, with the app's default limits:  -- --api --stall
        Console.WriteLine(await Keystone.Benchmarks.Api.ApiStallReport.RunAsync(Console.Error));
        return;
    }

    var latency = Array.IndexOf(args, "--latency");
    if (latency >= 0)
    {
        // The latency series only, after N seconds of warm-up traffic (default: until the JIT is quiet), with the
        // runtime's GC and JIT activity during them:  -- --api --latency [seconds]
        double? warmup = latency + 1 < args.Length && double.TryParse(args[latency + 1], System.Globalization.CultureInfo.InvariantCulture, out var w) ? w : null;
        await Keystone.Benchmarks.Api.ApiLoadReport.LatencyOnlyAsync(warmup, Console.Error);
        return;
    }

    Console.WriteLine("## HTTP API");
    Console.WriteLine();
    var report = await Keystone.Benchmarks.Api.ApiLoadReport.RunAsync(Console.Error);
    Console.WriteLine(report);
    return;
}

// The o200k token counter, compact versus Microsoft.ML.Tokenizers (docs/benchmarks.md, "Token counter memory"):
//   dotnet run -c Release --project tests/Keystone.Benchmarks -- --tokenizer [rounds]
if (Array.IndexOf(args, "--tokenizer") is var tokenizer and >= 0)
{
    Console.WriteLine(Keystone.Benchmarks.Tokenization.TokenizerReport.Run(tokenizer + 1 < args.Length && int.TryParse(args[tokenizer + 1], out var tr) ? tr : 7, Console.Error));
    return;
}

// The local embedding model and the semantic cache's lookup (docs/benchmarks.md, "Local embeddings and the semantic cache").
//   dotnet run -c Release --project tests/Keystone.Benchmarks -- --embeddings [entries] [--sqlite-only]
var embeddings = Array.IndexOf(args, "--embeddings");
if (embeddings >= 0)
{
    var entries = embeddings + 1 < args.Length && int.TryParse(args[embeddings + 1], out var e) ? e : 10_000;
    Console.WriteLine("## Local embeddings and the semantic cache");
    Console.WriteLine();
    Console.WriteLine(await Keystone.Benchmarks.Embeddings.EmbeddingReport.RunAsync(entries, postgres: !args.Contains("--sqlite-only")));
    return;
}

// Knowledge at scale (docs/benchmarks.md, "Knowledge ingestion and retrieval at scale"): ingestion + embedding
// throughput with the local model, retrieval p95 at N chunks per tenant on SQLite and PostgreSQL (HNSW).
//   dotnet run -c Release --project tests/Keystone.Benchmarks -- --knowledge-bench [chunks] [--ingest chunks] [--sqlite-only | --postgres-only]
var knowledgeBench = Array.IndexOf(args, "--knowledge-bench");
if (knowledgeBench >= 0)
{
    var chunks = knowledgeBench + 1 < args.Length && int.TryParse(args[knowledgeBench + 1], out var kc) ? kc : 100_000;
    var ingestAt = Array.IndexOf(args, "--ingest");
    var ingest = ingestAt >= 0 && ingestAt + 1 < args.Length && int.TryParse(args[ingestAt + 1], out var ic) ? ic : 1_000;
    Console.WriteLine("## Knowledge ingestion and retrieval at scale");
    Console.WriteLine();
    Console.WriteLine(await Keystone.Benchmarks.Knowledge.KnowledgeBenchReport.RunAsync(chunks, ingest, postgres: !args.Contains("--sqlite-only"),
        sqlite: !args.Contains("--postgres-only")));
    return;
}

// The recorder's cost per call by stage (diagnostic for the throughput rows of the gateway and API reports).
//   dotnet run -c Release --project tests/Keystone.Benchmarks -- --recorder [calls] [batch size] [--realistic] [--postgres]
// --realistic: a 2 KB system prompt and a 1,000-character answer per call (issue 26), instead of one-line messages.
var recorder = Array.IndexOf(args, "--recorder");
if (recorder >= 0)
{
    var calls = recorder + 1 < args.Length && int.TryParse(args[recorder + 1], out var r) ? r : 20_000;
    var batch = recorder + 2 < args.Length && int.TryParse(args[recorder + 2], out var b) ? b : 0;
    Console.WriteLine("## Recorder stages");
    Console.WriteLine();
    Console.WriteLine(await Keystone.Benchmarks.Recording.RecorderReport.RunAsync(calls, batch, args.Contains("--realistic"), args.Contains("--postgres")));
    return;
}

// An eval run through the real job (docs/benchmarks.md, "Eval runs"): wall time, examples/s, the run page's times meanwhile.
//   dotnet run -c Release --project tests/Keystone.Benchmarks -- --evals 500
var evals = Array.IndexOf(args, "--evals");
if (evals >= 0)
{
    var examples = evals + 1 < args.Length && int.TryParse(args[evals + 1], out var x) ? x : 500;
    Console.WriteLine("## Eval runs");
    Console.WriteLine();
    Console.WriteLine(await Keystone.Benchmarks.Evals.EvalRunReport.RunAsync(examples, Console.Error));
    return;
}

// Dashboards (docs/benchmarks.md, "Dashboards"): rollup throughput and page query times on SQLite at N calls.
//   dotnet run -c Release --project tests/Keystone.Benchmarks -- --dashboards 1000000
var dashboards = Array.IndexOf(args, "--dashboards");
if (dashboards >= 0)
{
    var calls = dashboards + 1 < args.Length && int.TryParse(args[dashboards + 1], out var c) ? c : 1_000_000;
    Console.WriteLine("## Dashboards");
    Console.WriteLine();
    Console.WriteLine(await Keystone.Benchmarks.Dashboards.DashboardLoadReport.RunAsync(calls));
    return;
}

var config = ManualConfig.Create(DefaultConfig.Instance)
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
if (!args.Contains("--report-only"))
{
    BenchmarkRunner.Run<GatewayBenchmarks>(config, args.Where(a => a != "--report-only").ToArray());
}

Console.WriteLine();
Console.WriteLine("## Gateway load report");
Console.WriteLine();
Console.WriteLine(await LoadReport.RunAsync());
