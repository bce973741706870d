using BenchmarkDotNet.Attributes;
using Keystone.Gateway;

namespace Keystone.Benchmarks;

/// <summary>BenchmarkDotNet's view of one non-streamed call: the adapter alone, the gateway, and the gateway without recording.</summary>
[MemoryDiagnoser]
public class GatewayBenchmarks
{
    private BenchmarkHost _host = null!;
    private BenchmarkHost _quiet = null!;

    [GlobalSetup]
    public void Setup()
    {
        _host = BenchmarkHost.StartAsync(recording: true, withCap: false).GetAwaiter().GetResult();
        _quiet = BenchmarkHost.StartAsync(recording: false, withCap: false).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _host.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _quiet.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true)]
    public Task<ProviderChatResponse> Direct() => _host.Direct.CompleteAsync(BenchmarkHost.DirectRequest, CancellationToken.None);

    [Benchmark]
    public Task<ChatResult> Gateway() => _host.Gateway.CompleteAsync(BenchmarkHost.Request, _host.Context, CancellationToken.None);

    [Benchmark]
    public Task<ChatResult> GatewayWithoutRecording() => _quiet.Gateway.CompleteAsync(BenchmarkHost.Request, _quiet.Context, CancellationToken.None);
}
