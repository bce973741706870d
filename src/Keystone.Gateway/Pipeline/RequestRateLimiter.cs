using System.Collections.Concurrent;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Requests per minute per API key and per user (pipeline step 3): a sliding-window counter (the previous
/// minute's count weighted by how much of it still overlaps the window, plus this minute's), per instance.
/// </summary>
// REVIEW: per instance. With N PostgreSQL-mode instances behind a load balancer the effective limit is up to N × the
// configured one; move the counters to the shared database (or Redis) if tenants need an exact cluster-wide limit.
internal sealed class RequestRateLimiter(TimeProvider clock)
{
    private static readonly long MinuteTicks = TimeSpan.FromMinutes(1).Ticks;
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private long _lastSweepMinute;

    /// <summary>
    /// Counts one request against <paramref name="key"/>; false when it is over the limit. Either way
    /// <paramref name="state"/> is the window as the caller should see it afterwards (the <c>x-ratelimit-*</c> headers):
    /// the limit, the requests left in it and the time until the current minute closes — the same wait a refusal's
    /// <c>Retry-After</c> gives, since that is when this minute's count starts to weigh less.
    /// </summary>
    public bool TryAcquire(string key, int limitPerMinute, out RequestRateLimit state)
    {
        var now = clock.GetUtcNow().UtcTicks;
        var minute = now / MinuteTicks;
        Sweep(minute);
        var window = _windows.GetOrAdd(key, _ => new Window());
        lock (window)
        {
            if (window.Minute != minute)
            {
                window.Previous = window.Minute == minute - 1 ? window.Current : 0;
                window.Current = 0;
                window.Minute = minute;
            }

            var elapsed = (double)(now - (minute * MinuteTicks)) / MinuteTicks;
            var estimate = (window.Previous * (1 - elapsed)) + window.Current;
            var reset = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling((1 - elapsed) * 60)));
            if (estimate + 1 > limitPerMinute)
            {
                state = new RequestRateLimit(limitPerMinute, 0, reset);
                return false;
            }

            window.Current++;
            state = new RequestRateLimit(limitPerMinute, Math.Max(0, (int)Math.Floor(limitPerMinute - (estimate + 1))), reset);
            return true;
        }
    }

    private void Sweep(long minute)
    {
        // Windows idle for two minutes carry no weight any more; drop them once a minute.
        if (Interlocked.Exchange(ref _lastSweepMinute, minute) == minute)
        {
            return;
        }

        foreach (var (key, w) in _windows)
        {
            if (w.Minute < minute - 1)
            {
                _windows.TryRemove(key, out _);
            }
        }
    }

    private sealed class Window
    {
        public long Minute;
        public int Previous;
        public int Current;
    }
}
