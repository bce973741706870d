using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Components.Account;

/// <summary>
/// Counts failed sign-ins per client address in a sliding window (<see cref="SignInThrottleOptions"/>). Past the limit
/// the sign-in form answers 429 without checking the password, so the address can neither keep guessing nor push more
/// accounts into lockout. In memory, per instance: with several instances behind a balancer an address gets the limit
/// on each (sticky sessions usually send it to one), which still bounds it.
/// </summary>
internal sealed class SignInThrottle(IOptionsMonitor<SignInThrottleOptions> options, TimeProvider clock)
{
    // Addresses with failures in the window; pruned when it grows, so a scan of many addresses cannot exhaust memory.
    private const int PruneAbove = 10_000;

    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);

    /// <summary>The key of a client: its IP address (behind a proxy listed in <c>ForwardedHeaders:KnownProxies</c> or <c>KnownNetworks</c>, the address it forwarded).</summary>
    public static string AddressOf(HttpContext http) => http.Connection.RemoteIpAddress is { } ip
        ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString()
        : "unknown";

    /// <summary>When the address may try again, or null when it may now.</summary>
    public DateTimeOffset? BlockedUntil(string address)
    {
        if (!_failures.TryGetValue(address, out var queue))
        {
            return null;
        }

        var settings = options.CurrentValue;
        lock (queue)
        {
            Expire(queue, settings.FailureWindow);
            return queue.Count >= settings.MaxFailuresPerAddress ? queue.Peek() + settings.FailureWindow : null;
        }
    }

    /// <summary>Counts one failed sign-in (wrong password, unknown or locked account) of the address.</summary>
    public void RecordFailure(string address)
    {
        if (_failures.Count > PruneAbove)
        {
            Prune();
        }

        var queue = _failures.GetOrAdd(address, _ => new Queue<DateTimeOffset>());
        var settings = options.CurrentValue;
        lock (queue)
        {
            Expire(queue, settings.FailureWindow);
            queue.Enqueue(clock.GetUtcNow());
            // Only the newest failures up to the limit matter for when the address may try again.
            while (queue.Count > settings.MaxFailuresPerAddress)
            {
                queue.Dequeue();
            }
        }
    }

    private void Expire(Queue<DateTimeOffset> queue, TimeSpan window)
    {
        var oldest = clock.GetUtcNow() - window;
        while (queue.Count > 0 && queue.Peek() <= oldest)
        {
            queue.Dequeue();
        }
    }

    private void Prune()
    {
        var window = options.CurrentValue.FailureWindow;
        foreach (var (address, queue) in _failures)
        {
            lock (queue)
            {
                Expire(queue, window);
                if (queue.Count == 0)
                {
                    _failures.TryRemove(new KeyValuePair<string, Queue<DateTimeOffset>>(address, queue));
                }
            }
        }
    }
}
