using System.Collections.Concurrent;
using Keystone.Gateway.Pipeline;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Routing;

/// <summary>The state of one target's circuit.</summary>
internal enum CircuitState
{
    Closed,
    Open,
    HalfOpen,
}

/// <summary>
/// A circuit breaker per <c>provider/model</c> target: opens after <see cref="GatewayOptions.CircuitFailureThreshold"/>
/// consecutive failures, stays open for <see cref="GatewayOptions.CircuitBreakDuration"/>, then lets exactly one
/// probe through (half-open); the probe's success closes it, its failure opens it again. Per instance.
/// </summary>
internal sealed class CircuitBreakers(IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, Circuit> _circuits = new(StringComparer.OrdinalIgnoreCase);

    public CircuitState StateOf(ModelTarget target) => Get(target).State(clock.GetUtcNow());

    /// <summary>True when a call may go to the target now (closed, or the one half-open probe).</summary>
    public bool TryAcquire(ModelTarget target) => Get(target).TryAcquire(clock.GetUtcNow());

    public void Success(ModelTarget target) => Get(target).Success();

    public void Failure(ModelTarget target)
        => Get(target).Failure(clock.GetUtcNow(), options.CurrentValue.CircuitFailureThreshold, options.CurrentValue.CircuitBreakDuration);

    /// <summary>A call that ended without a verdict on the target's health (the caller cancelled).</summary>
    public void Abandon(ModelTarget target) => Get(target).Abandon();

    private Circuit Get(ModelTarget target) => _circuits.GetOrAdd(target.ToString(), _ => new Circuit());

    private sealed class Circuit
    {
        private readonly Lock _lock = new();
        private int _failures;
        private DateTimeOffset? _openUntil;
        private bool _probing;

        public CircuitState State(DateTimeOffset now)
        {
            lock (_lock)
            {
                return _openUntil is null ? CircuitState.Closed : now < _openUntil ? CircuitState.Open : CircuitState.HalfOpen;
            }
        }

        public bool TryAcquire(DateTimeOffset now)
        {
            lock (_lock)
            {
                if (_openUntil is null)
                {
                    return true;
                }

                if (now < _openUntil || _probing)
                {
                    return false;
                }

                _probing = true;
                return true;
            }
        }

        public void Success()
        {
            lock (_lock)
            {
                _failures = 0;
                _openUntil = null;
                _probing = false;
            }
        }

        public void Failure(DateTimeOffset now, int threshold, TimeSpan breakFor)
        {
            lock (_lock)
            {
                _failures++;
                if (_probing || _failures >= threshold)
                {
                    _openUntil = now + breakFor;
                }

                _probing = false;
            }
        }

        public void Abandon()
        {
            lock (_lock)
            {
                _probing = false;
            }
        }
    }
}
