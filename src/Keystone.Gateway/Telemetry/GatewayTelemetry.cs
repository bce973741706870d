using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Keystone.Gateway.Telemetry;

/// <summary>
/// The gateway's OpenTelemetry instruments: Meter and ActivitySource <c>Keystone.Gateway</c> (one activity per
/// call, one per provider attempt). Hosts export them with <c>AddMeter</c> / <c>AddSource</c>.
/// </summary>
public sealed class GatewayTelemetry : IDisposable
{
    public const string Name = "Keystone.Gateway";

    public static readonly ActivitySource Activities = new(Name);

    private readonly Meter _meter;

    public GatewayTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        Latency = _meter.CreateHistogram<double>("keystone.gateway.latency", "ms", "Call latency as the caller saw it");
        Ttft = _meter.CreateHistogram<double>("keystone.gateway.ttft", "ms", "Time to first token of streams");
        Overhead = _meter.CreateHistogram<double>("keystone.gateway.overhead", "ms", "Time spent in the gateway itself");
        Tokens = _meter.CreateCounter<long>("keystone.gateway.tokens", "{token}", "Tokens by type");
        Cost = _meter.CreateCounter<long>("keystone.gateway.cost", "micro-USD", "Settled cost");
        Fallbacks = _meter.CreateCounter<long>("keystone.gateway.fallbacks", "{call}", "Calls answered by a fallback target");
        CacheHits = _meter.CreateCounter<long>("keystone.gateway.cache_hits", "{call}", "Calls answered from the exact cache");
        Rejections = _meter.CreateCounter<long>("keystone.gateway.rejections", "{call}", "Calls refused before any provider was called");
        Calls = _meter.CreateCounter<long>("keystone.gateway.calls", "{call}", "Calls by status");
    }

    public Histogram<double> Latency { get; }

    public Histogram<double> Ttft { get; }

    public Histogram<double> Overhead { get; }

    public Counter<long> Tokens { get; }

    public Counter<long> Cost { get; }

    public Counter<long> Fallbacks { get; }

    public Counter<long> CacheHits { get; }

    public Counter<long> Rejections { get; }

    public Counter<long> Calls { get; }

    public void Dispose() => _meter.Dispose();
}
