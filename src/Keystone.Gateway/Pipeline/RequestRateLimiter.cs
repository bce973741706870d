using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Requests per minute per API key and per user (pipeline step 3): a sliding-window counter (the previous
/// minute's count weighted by how much of it still overlaps the window, plus this minute's). Counting is local and
/// lock-per-key; with several PostgreSQL-mode instances, <see cref="RateLimitSync"/> shares each instance's counts
/// every <c>Gateway:RateLimitSyncInterval</c> and the other instances' counts weigh in like local ones (decision 20).
/// </summary>
internal sealed class RequestRateLimiter(TimeProvider clock)
{
    private static readonly long MinuteTicks = TimeSpan.FromMinutes(1).Ticks;
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private long _lastSweepMinute;

    // The other instances' counts as last read (by shared key), for windows created after that read.
    private volatile Others _others = new(0, new Dictionary<string, (int, int)>());

    /// <summary>The current UTC minute (minutes since 0001-01-01), the unit windows and shared counts are kept in.</summary>
    public long CurrentMinute => clock.GetUtcNow().UtcTicks / MinuteTicks;

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
        var window = _windows.GetOrAdd(key, NewWindow);
        lock (window)
        {
            window.MoveTo(minute);
            var elapsed = (double)(now - (minute * MinuteTicks)) / MinuteTicks;
            var estimate = ((window.Previous + window.RemotePrevious) * (1 - elapsed)) + window.Current + window.RemoteCurrent;
            var reset = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling((1 - elapsed) * 60)));
            if (estimate + 1 > limitPerMinute)
            {
                state = new RequestRateLimit(limitPerMinute, 0, reset);
                return false;
            }

            window.Current++;
            window.Changed = true;
            state = new RequestRateLimit(limitPerMinute, Math.Max(0, (int)Math.Floor(limitPerMinute - (estimate + 1))), reset);
            return true;
        }
    }

    /// <summary>
    /// This instance's counts that changed since the last call, as (key, minute, count) with absolute counts, so that
    /// writing them again is harmless: the current minute's and, right after a minute turned, the previous one's final count.
    /// </summary>
    public List<(string Key, long Minute, int Count)> TakeChangedCounts()
    {
        var minute = CurrentMinute;
        var changed = new List<(string, long, int)>();
        foreach (var (key, window) in _windows)
        {
            lock (window)
            {
                if (!window.Changed)
                {
                    continue;
                }

                window.Changed = false;
                if (window.Minute >= minute - 1)
                {
                    changed.Add((window.SharedKey, window.Minute, window.Current));
                }

                if (window.Minute == minute && window.Previous > 0)
                {
                    changed.Add((window.SharedKey, minute - 1, window.Previous));
                }
            }
        }

        return changed;
    }

    /// <summary>
    /// Replaces what the other instances counted in <paramref name="minute"/> and the minute before, by shared key
    /// (keys absent from <paramref name="others"/> counted nothing there).
    /// </summary>
    public void ApplyOthers(long minute, IReadOnlyDictionary<string, (int Previous, int Current)> others)
    {
        _others = new Others(minute, others);
        foreach (var (_, window) in _windows)
        {
            var (previous, current) = others.GetValueOrDefault(window.SharedKey);
            lock (window)
            {
                window.SetRemote(minute, previous, current);
            }
        }
    }

    /// <summary>
    /// The key as instances share it: API-key windows as they are (tenant and key ids), user windows with the user
    /// hashed, so the shared table (outside row-level security) holds no end-user names.
    /// </summary>
    internal static string SharedKeyOf(string key)
    {
        var user = key.StartsWith("u:", StringComparison.Ordinal) ? key.IndexOf(':', 2) : -1;
        if (user < 0)
        {
            return key;
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key, user + 1, key.Length - user - 1));
        return string.Concat(key.AsSpan(0, user + 1), Convert.ToHexStringLower(hash, 0, 16));
    }

    private Window NewWindow(string key)
    {
        var window = new Window(SharedKeyOf(key));
        var others = _others;
        var (previous, current) = others.Counts.GetValueOrDefault(window.SharedKey);
        window.SetRemote(others.Minute, previous, current);
        return window;
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

    private sealed record Others(long Minute, IReadOnlyDictionary<string, (int Previous, int Current)> Counts);

    private sealed class Window(string sharedKey)
    {
        public readonly string SharedKey = sharedKey;
        public long Minute;
        public int Previous;
        public int Current;

        /// <summary>Set by a counted request (and a minute turning over), cleared when the counts are shared.</summary>
        public bool Changed;

        /// <summary>The minute the other instances' counts below belong to.</summary>
        public long RemoteMinute;
        public int RemotePrevious;
        public int RemoteCurrent;

        public void MoveTo(long minute)
        {
            if (Minute != minute)
            {
                Previous = Minute == minute - 1 ? Current : 0;
                Current = 0;
                Minute = minute;
                Changed |= Previous > 0;
            }

            if (RemoteMinute != minute)
            {
                RemotePrevious = RemoteMinute == minute - 1 ? RemoteCurrent : 0;
                RemoteCurrent = 0;
                RemoteMinute = minute;
            }
        }

        public void SetRemote(long minute, int previous, int current)
        {
            // A sync that read the database just before the minute turned reports the minute before: shift it.
            if (minute < Math.Max(Minute, RemoteMinute))
            {
                if (minute == Math.Max(Minute, RemoteMinute) - 1)
                {
                    RemoteMinute = minute + 1;
                    RemotePrevious = current;
                    RemoteCurrent = 0;
                }

                return;
            }

            RemoteMinute = minute;
            RemotePrevious = previous;
            RemoteCurrent = current;
        }
    }
}
