using Keystone.Gateway.Pipeline;
using Microsoft.Extensions.Time.Testing;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>The sliding window behind the per-key limit and the <c>x-ratelimit-*</c> headers it feeds.</summary>
public sealed class RequestRateLimiterTests
{
    private static FakeTimeProvider ClockAt(int secondIntoMinute)
        => new(new DateTimeOffset(2026, 11, 23, 10, 0, secondIntoMinute, TimeSpan.Zero));

    [Fact]
    public void TryAcquire_WithinLimit_CountsRemainingDownAndResetsAtTheMinutesEnd()
    {
        var limiter = new RequestRateLimiter(ClockAt(10));

        var remaining = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            Assert.True(limiter.TryAcquire("k:a", 3, out var state));
            Assert.Equal(3, state.Limit);
            Assert.Equal(TimeSpan.FromSeconds(50), state.Reset);
            remaining.Add(state.Remaining);
        }

        Assert.Equal([2, 1, 0], remaining);
    }

    [Fact]
    public void TryAcquire_OverLimit_RefusesWithNothingRemainingAndTheSameWaitAsTheReset()
    {
        var limiter = new RequestRateLimiter(ClockAt(45));
        limiter.TryAcquire("k:a", 2, out _);
        limiter.TryAcquire("k:a", 2, out _);

        var allowed = limiter.TryAcquire("k:a", 2, out var refused);
        var otherKey = limiter.TryAcquire("k:b", 2, out var other);

        Assert.False(allowed);
        Assert.Equal(new RequestRateLimit(2, 0, TimeSpan.FromSeconds(15)), refused);
        Assert.True(otherKey);
        Assert.Equal(1, other.Remaining);
    }

    [Fact]
    public void TryAcquire_NextMinute_PreviousCountStillWeighsByItsOverlap()
    {
        var clock = ClockAt(50);
        var limiter = new RequestRateLimiter(clock);
        for (var i = 0; i < 4; i++)
        {
            limiter.TryAcquire("k:a", 4, out _);
        }

        // 30 s into the next minute half of the last minute's 4 requests still count: 2 + this one leaves 1.
        clock.Advance(TimeSpan.FromSeconds(40));
        Assert.True(limiter.TryAcquire("k:a", 4, out var state));

        Assert.Equal(1, state.Remaining);
        Assert.Equal(TimeSpan.FromSeconds(30), state.Reset);
    }
}
