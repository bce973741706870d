using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// A gateway of the peer report running as a process of its own: this benchmark started with <c>--serve</c>
/// (<see cref="ServeMode"/>). Keystone runs with Keystone.Web's own runtime settings (its <c>runtimeconfig.json</c>: GC
/// mode, conserve-memory, tiered PGO, as deployed), not the benchmark's server GC.
/// </summary>
internal sealed class ChildTarget : IAsyncDisposable
{
    private const string ChildPrefix = "KEYSTONE_CHILD_";
    private readonly Process _process;
    private readonly Channel<string> _replies = Channel.CreateUnbounded<string>();
    private readonly System.Text.StringBuilder _log = new();

    private ChildTarget(Process process)
    {
        _process = process;
    }

    public int ProcessId => _process.Id;

    public Uri Url { get; private set; } = null!;

    /// <summary>The tenant API key (Keystone), or null.</summary>
    public string? ApiKey { get; private set; }

    /// <summary>The app's SQLite folder (Keystone), or null.</summary>
    public string? DataDirectory { get; private set; }

    /// <summary>Which runtime settings the process runs with, for the report.</summary>
    public string RuntimeNote { get; private set; } = "";

    /// <param name="assembly">Another build of this benchmark to run the target from (before/after pairs in one run), or null.</param>
    /// <param name="extraEnvironment">More environment variables for this target only (a variant of runtime settings).</param>
    public static async Task<ChildTarget> StartAsync(string kind, Uri upstreamBaseUrl, bool recording, CancellationToken ct, string? assembly = null,
        IReadOnlyDictionary<string, string>? extraEnvironment = null)
    {
        var self = assembly ?? typeof(ChildTarget).Assembly.Location;
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = PortkeyGateway.RepositoryRoot(),
        };
        info.ArgumentList.Add("exec");
        var note = "the benchmark's runtime settings";
        if (kind == "keystone" && WebRuntimeConfig() is { } config)
        {
            info.ArgumentList.Add("--runtimeconfig");
            info.ArgumentList.Add(config);
            note = "Keystone.Web's runtimeconfig.json (" + DescribeRuntimeConfig(config) + ")";
        }
        else if (kind == "bare")
        {
            // The physical limit runs as lean as it can on two cores: workstation GC like the app.
            info.Environment["DOTNET_gcServer"] = "0";
            note = "workstation concurrent GC";
        }

        foreach (var a in new[] { self, "--serve", kind, upstreamBaseUrl.ToString() })
        {
            info.ArgumentList.Add(a);
        }

        if (!recording)
        {
            info.ArgumentList.Add("--no-recording");
        }

        if (kind == "keystone")
        {
            // Settings to compare without a rebuild (runtime knobs, app settings): KEYSTONE_CHILD_X=v reaches the Keystone
            // processes as X=v and not the benchmark's own process, e.g. KEYSTONE_CHILD_DOTNET_GCgen0size=0x400000.
            foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            {
                if (e.Key is string name && name.StartsWith(ChildPrefix, StringComparison.Ordinal) && name.Length > ChildPrefix.Length)
                {
                    info.Environment[name[ChildPrefix.Length..]] = e.Value as string;
                    note += $"; {name[ChildPrefix.Length..]}={e.Value}";
                }
            }
        }

        foreach (var (name, value) in extraEnvironment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
            note += $"; {name}={value}";
        }

        info.Environment["Logging__LogLevel__Default"] = "Warning";
        // The memory trim's one line per trim (how much, how long): the memory report lists them.
        info.Environment["Logging__LogLevel__Keystone.Web.Hosting.MemoryTrim"] = "Information";
        info.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Warning";
        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet could not be started");
        var child = new ChildTarget(process) { RuntimeNote = note };
        _ = Task.Run(() => child.ReadOutputAsync(process.StandardOutput), CancellationToken.None);
        _ = Task.Run(() => child.ReadLogAsync(process.StandardError), CancellationToken.None);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        string ready;
        try
        {
            ready = await child.NextReplyAsync("READY", timeout.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            var log = child.Log();
            await child.DisposeAsync();
            throw new InvalidOperationException($"The {kind} target did not start: {log}", ex);
        }

        var parts = ready.Split(' ');
        child.Url = new Uri(parts[1]);
        child.ApiKey = parts[2] == "-" ? null : parts[2];
        child.DataDirectory = parts[3] == "-" ? null : parts[3];
        return child;
    }

    /// <summary>Waits until the target's recorder has written every call so far; returns how many it has written.</summary>
    public async Task<long> FlushAsync(CancellationToken ct)
    {
        await _process.StandardInput.WriteLineAsync("flush".AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
        var reply = (await NextReplyAsync("FLUSHED", ct)).Split(' ');
        EmbeddingModelLoaded = reply.Length > 2 && reply[2] == "model-loaded";
        return long.Parse(reply[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The stage profiles of the streams since the last call (<c>KEYSTONE_BENCH_STAGES=1</c>), each stage's timestamp.</summary>
    public async Task<List<long[]>> StagesAsync(CancellationToken ct)
    {
        await _process.StandardInput.WriteLineAsync("stages".AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
        var reply = (await NextReplyAsync("STAGES", ct))["STAGES ".Length..];
        // "-;" first: a reply with no profiles is not an empty line.
        return [.. reply.Split(';', StringSplitOptions.RemoveEmptyEntries).Where(p => p != "-")
            .Select(p => p.Split(',').Select(v => long.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray())];
    }

    /// <summary>Where the target's resident memory goes now (after a full compacting GC with <paramref name="afterGc"/>).</summary>
    public async Task<MemorySnapshot> MemoryAsync(bool afterGc, CancellationToken ct)
    {
        await _process.StandardInput.WriteLineAsync((afterGc ? "memory-after-gc" : "memory").AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
        return MemorySnapshot.Parse((await NextReplyAsync("MEMORY", ct))["MEMORY ".Length..]);
    }

    /// <summary>What the target's <see cref="StallProbe"/> saw since the last call (started with <c>KEYSTONE_BENCH_DIAG=1</c>), one line per finding.</summary>
    public async Task<string[]> DiagAsync(CancellationToken ct)
    {
        await _process.StandardInput.WriteLineAsync("diag".AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
        return (await NextReplyAsync("DIAG", ct))["DIAG ".Length..].Split('|', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Bytes the target has allocated on its managed heap so far.</summary>
    public async Task<long> AllocatedAsync(CancellationToken ct)
    {
        await _process.StandardInput.WriteLineAsync("allocated".AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
        return long.Parse((await NextReplyAsync("ALLOCATED", ct))["ALLOCATED ".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Starts sampling what the target allocates (the runtime's allocation ticks, about one per 100 KB).</summary>
    public async Task StartAllocationSampleAsync(CancellationToken ct)
    {
        await _process.StandardInput.WriteLineAsync("sample-start".AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
        await NextReplyAsync("SAMPLING", ct);
    }

    /// <summary>The types allocated since <see cref="StartAllocationSampleAsync"/>, with their share of the sampled bytes.</summary>
    public async Task<List<(string Type, double Share)>> StopAllocationSampleAsync(CancellationToken ct)
    {
        await _process.StandardInput.WriteLineAsync("sample-stop".AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
        var reply = (await NextReplyAsync("SAMPLE", ct))["SAMPLE ".Length..];
        return [.. reply.Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2))
            .Select(p => (p[1], double.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture)))];
    }

    /// <summary>Whether the local embedding model was in the process's memory at the last flush.</summary>
    public bool EmbeddingModelLoaded { get; private set; }

    private async Task<string> NextReplyAsync(string prefix, CancellationToken ct)
    {
        while (true)
        {
            var line = await _replies.Reader.ReadAsync(ct);
            if (line.StartsWith(prefix + " ", StringComparison.Ordinal))
            {
                return line;
            }
        }
    }

    private async Task ReadOutputAsync(StreamReader output)
    {
        while (await output.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("READY ", StringComparison.Ordinal) || line.StartsWith("FLUSHED ", StringComparison.Ordinal)
                || line.StartsWith("MEMORY ", StringComparison.Ordinal) || line.StartsWith("DIAG ", StringComparison.Ordinal)
                || line.StartsWith("ALLOCATED ", StringComparison.Ordinal) || line.StartsWith("STAGES ", StringComparison.Ordinal)
                || line.StartsWith("SAMPLING ", StringComparison.Ordinal) || line.StartsWith("SAMPLE ", StringComparison.Ordinal))
            {
                _replies.Writer.TryWrite(line);
            }
            else
            {
                Keep(line);
            }
        }

        _replies.Writer.TryComplete();
    }

    private async Task ReadLogAsync(StreamReader error)
    {
        while (await error.ReadLineAsync() is { } line)
        {
            Keep(line);
        }
    }

    private void Keep(string line)
    {
        lock (_log)
        {
            if (_log.Length < 16_000)
            {
                _log.AppendLine(line);
            }
        }
    }

    /// <summary>Lines of the target's log that contain <paramref name="text"/>.</summary>
    public IReadOnlyList<string> LogLines(string text) => [.. Log().Split('\n').Where(l => l.Contains(text, StringComparison.Ordinal)).Select(l => l.Trim())];

    private string Log()
    {
        lock (_log)
        {
            return _log.ToString();
        }
    }

    /// <summary>Keystone.Web's runtimeconfig.json in its build output of the same configuration, if built.</summary>
    private static string? WebRuntimeConfig()
    {
        var manifest = Path.Combine(AppContext.BaseDirectory, "MvcTestingAppManifest.json");
        if (!File.Exists(manifest))
        {
            return null;
        }

        var roots = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(manifest))!;
        var web = roots.First(r => r.Key.StartsWith("Keystone.Web,", StringComparison.Ordinal)).Value;
        // …/tests/Keystone.Benchmarks/bin/<Configuration>/<tfm>/
        var tfmDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var path = Path.Combine(web, "bin", tfmDir.Parent!.Name, tfmDir.Name, "Keystone.Web.runtimeconfig.json");
        return File.Exists(path) ? path : null;
    }

    private static string DescribeRuntimeConfig(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        if (!doc.RootElement.GetProperty("runtimeOptions").TryGetProperty("configProperties", out var props))
        {
            return "runtime defaults";
        }

        return string.Join(", ", props.EnumerateObject()
            .Where(p => p.Name.StartsWith("System.GC.", StringComparison.Ordinal) || p.Name.StartsWith("System.Runtime.Tiered", StringComparison.Ordinal))
            .Select(p => $"{p.Name.Replace("System.", "", StringComparison.Ordinal)}={p.Value}"));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await _process.StandardInput.WriteLineAsync("quit");
                await _process.StandardInput.FlushAsync();
                if (!_process.WaitForExit(15_000))
                {
                    _process.Kill(entireProcessTree: true);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            // The pipe or the process is already gone.
        }

        _process.Dispose();
    }
}
