using System.Diagnostics.Metrics;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Api;

/// <summary>
/// Counts the requests in flight on the model-calling routes against <see cref="ApiOptions.MaxConcurrentRequests"/>
/// and the requests refused beyond it. Lock-free: one compare-and-swap to enter, one decrement to leave, no
/// allocation — the chat route runs at ~10k req/s. Observable as the <c>Keystone.Api</c> meter
/// (<c>keystone.api.in_flight</c>, <c>keystone.api.shed</c>), read only when a listener collects.
/// </summary>
internal sealed partial class ApiLoadShedder : IDisposable
{
    public const string MeterName = "Keystone.Api";

    private static readonly TimeSpan WarningInterval = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _clock;
    private readonly ILogger<ApiLoadShedder> _log;
    private readonly Meter _meter;
    private int _inFlight;
    private long _shed;
    private long _shedAtLastWarning;
    private long _lastWarning;

    public ApiLoadShedder(TimeProvider clock, ILogger<ApiLoadShedder> log, IMeterFactory meters)
    {
        _clock = clock;
        _log = log;
        // One interval ago, so the first refusal is logged at once.
        _lastWarning = clock.GetTimestamp() - clock.TimestampFrequency;
        _meter = meters.Create(MeterName);
        _meter.CreateObservableUpDownCounter("keystone.api.in_flight", () => Volatile.Read(ref _inFlight), "{request}",
            "Requests in flight on the model-calling routes");
        _meter.CreateObservableCounter("keystone.api.shed", () => Interlocked.Read(ref _shed), "{request}",
            "Requests answered 503 server_overloaded because the in-flight limit was reached");
    }

    /// <summary>Requests holding a slot now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Requests refused since start.</summary>
    public long Shed => Interlocked.Read(ref _shed);

    /// <summary>
    /// Takes a slot unless <paramref name="limit"/> are taken; a caller that gets true must call <see cref="Exit"/>
    /// exactly once. Compare-and-swap rather than increment-then-undo: the count never exceeds the limit, even for a
    /// moment, so a request is never refused while a slot is free.
    /// </summary>
    public bool TryEnter(int limit)
    {
        var current = Volatile.Read(ref _inFlight);
        while (current < limit)
        {
            var seen = Interlocked.CompareExchange(ref _inFlight, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    /// <summary>Gives back a slot taken by <see cref="TryEnter"/>.</summary>
    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Counts a refused request; warns at most once per second, with how many were refused since the last warning.</summary>
    public void RecordShed(int limit)
    {
        var total = Interlocked.Increment(ref _shed);
        var now = _clock.GetTimestamp();
        var last = Interlocked.Read(ref _lastWarning);
        if (_clock.GetElapsedTime(last, now) < WarningInterval || Interlocked.CompareExchange(ref _lastWarning, now, last) != last)
        {
            return;
        }

        // Only the thread that moved the timestamp gets here, so the since-last-warning count is not shared.
        var since = total - Interlocked.Exchange(ref _shedAtLastWarning, total);
        Shedding(_log, limit, since);
    }

    public void Dispose() => _meter.Dispose();

    [LoggerMessage(EventId = 4000, Level = LogLevel.Warning,
        Message = "Shedding load: {Limit} requests in flight on the model-calling routes (Api:MaxConcurrentRequests); {Shed} answered 503 since the last warning")]
    private static partial void Shedding(ILogger logger, int limit, long shed);
}
