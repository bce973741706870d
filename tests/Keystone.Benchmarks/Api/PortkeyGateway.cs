using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// The peer: Portkey's open-source gateway (<c>@portkey-ai/gateway</c>, MIT, Hono on Node), pinned, installed with npm
/// into the benchmark's own git-ignored folder (<c>tests/Keystone.Benchmarks/.peers/</c>), started on loopback against
/// the same mock (see /work/shared/notes/peer-gateways.md). Two changes to how it runs, both said in the report:
/// <list type="bullet">
/// <item>Its installed <c>build/start-server.js</c> gets the streaming fix of Portkey PR #1551 (a mapped streaming answer
/// is copied into a new <c>Response</c> before its headers are changed): without it every stream on Node 20 fails with
/// <c>TypeError: immutable</c> (Portkey issues #1389, #1550).</item>
/// <item>A <c>--require</c> preload binds it to 127.0.0.1 (it listens on every interface by default).</item>
/// </list>
/// Any failure (npm, the patch no longer matching, a start that never answers) throws with the reason: the peer is part
/// of the measurement, never silently left out.
/// </summary>
internal sealed class PortkeyGateway : IAsyncDisposable
{
    public const string Package = "@portkey-ai/gateway";
    public const string Version = "1.15.2";

    /// <summary>The minified spot PR #1551 changes: in <c>ResponseService.create</c>, an already-mapped answer is used as is.</summary>
    private const string MappedAsIs = "r?(i=t,c=s):";

    /// <summary>
    /// The same change on the built file: a mapped streaming answer becomes a new <c>Response</c> with a copy of its headers
    /// (mutable), so <c>updateHeaders</c> may add Portkey's headers. Only streams, as in the PR; the runtime is always Node here.
    /// </summary>
    private const string MappedCopied =
        "r?(i=this.context.isStreaming?new Response(t.body,{status:t.status,statusText:t.statusText,headers:new Headers(t.headers)}):t,c=s):";

    private const string Marker = "/* keystone-benchmark: Portkey PR #1551 applied */";

    private const string LoopbackPreload = """
        // keystone-benchmark: listen on 127.0.0.1 when a server is started without a host (load tests use loopback only).
        const net = require('net');
        const listen = net.Server.prototype.listen;
        net.Server.prototype.listen = function (...args) {
          if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
            args.splice(1, 0, '127.0.0.1');
          } else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined && !args[0].host) {
            args[0] = { ...args[0], host: '127.0.0.1' };
          }
          return listen.apply(this, args);
        };
        """;

    private readonly Process _process;

    private PortkeyGateway(Process process, Uri url, string notes)
    {
        _process = process;
        Url = url;
        Notes = notes;
    }

    public Uri Url { get; }

    public int ProcessId => _process.Id;

    /// <summary>What was installed and changed, for the report.</summary>
    public string Notes { get; }

    /// <summary>Installs (once) and starts the gateway on a free loopback port; waits until it answers.</summary>
    public static async Task<PortkeyGateway> StartAsync(TextWriter progress, CancellationToken ct)
    {
        var folder = Path.Combine(RepositoryRoot(), "tests", "Keystone.Benchmarks", ".peers", $"portkey-gateway-{Version}");
        var package = Path.Combine(folder, "node_modules", "@portkey-ai", "gateway");
        var server = Path.Combine(package, "build", "start-server.js");
        if (!File.Exists(server))
        {
            Directory.CreateDirectory(folder);
            progress.WriteLine($"installing {Package}@{Version} with npm into {folder}");
            var (code, output) = await RunAsync("npm", ["install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error", "--prefix", folder, $"{Package}@{Version}"], folder, ct);
            if (code != 0 || !File.Exists(server))
            {
                throw new InvalidOperationException($"npm install {Package}@{Version} failed (exit {code}): {output.Trim()}");
            }
        }

        var source = await File.ReadAllTextAsync(server, ct);
        if (!source.Contains(Marker, StringComparison.Ordinal))
        {
            var at = source.IndexOf(MappedAsIs, StringComparison.Ordinal);
            if (at < 0 || source.IndexOf(MappedAsIs, at + 1, StringComparison.Ordinal) >= 0)
            {
                throw new InvalidOperationException($"The streaming fix of Portkey PR #1551 no longer matches {server} (expected one '{MappedAsIs}').");
            }

            source = source.Replace(MappedAsIs, MappedCopied, StringComparison.Ordinal);
            // After the first line: a build starting with a shebang keeps it first.
            var firstLine = source.IndexOf('\n', StringComparison.Ordinal);
            source = source.Insert(firstLine + 1, Marker + "\n");
            await File.WriteAllTextAsync(server, source, ct);
        }

        var preload = Path.Combine(folder, "bind-loopback.cjs");
        await File.WriteAllTextAsync(preload, LoopbackPreload, ct);

        var port = FreePort();
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = package,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--require", preload, server, $"--port={port}", "--headless" })
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["NODE_ENV"] = "production";
        var process = Process.Start(start) ?? throw new InvalidOperationException("node could not be started");
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { if (log.Length < 8000) { log.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { lock (log) { if (log.Length < 8000) { log.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var url = new Uri($"http://127.0.0.1:{port}/v1/chat/completions");
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"Portkey's gateway exited at start (code {process.ExitCode}): {log}");
            }

            try
            {
                using var answer = await probe.GetAsync(new Uri($"http://127.0.0.1:{port}/"), ct);
                break;
            }
            catch (HttpRequestException) when (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(200, ct);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"Portkey's gateway did not answer on port {port} within 60 s: {log}", ex);
            }
        }

        return new PortkeyGateway(process, url,
            $"`{Package}@{Version}` from npm (Node {NodeVersion()}), its `build/start-server.js` with the streaming fix of Portkey PR #1551 applied to the installed copy, bound to 127.0.0.1 by a `--require` preload, `NODE_ENV=production`, `--headless`");
    }

    /// <summary>The per-request headers that point Portkey at the mock (OpenAI's protocol at a custom host).</summary>
    public static void Address(HttpRequestMessage request, Uri mockBaseUrl)
    {
        request.Headers.TryAddWithoutValidation("x-portkey-provider", "openai");
        request.Headers.TryAddWithoutValidation("x-portkey-custom-host", mockBaseUrl.ToString().TrimEnd('/'));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sk-benchmark");
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Console.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Console.sln above {AppContext.BaseDirectory}.");
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string NodeVersion()
    {
        try
        {
            return RunAsync("node", ["--version"], AppContext.BaseDirectory, CancellationToken.None).GetAwaiter().GetResult().Output.Trim();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "?";
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, string[] args, string cwd, CancellationToken ct)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info) ?? throw new InvalidOperationException($"{file} could not be started");
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        return (p.ExitCode, await stdout + await stderr);
    }
}
