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

    [Fact]
    public void TryAcquire_OtherInstancesCounts_WeighLikeLocalOnesAndShiftWhenTheMinuteTurns()
    {
        var clock = ClockAt(30);
        var limiter = new RequestRateLimiter(clock);
        var minute = limiter.CurrentMinute;
        limiter.ApplyOthers(minute, new Dictionary<string, (int, int)> { ["k:a"] = (0, 3) });

        // A window first used after the read starts from the others' 3 of 4: one left.
        Assert.True(limiter.TryAcquire("k:a", 4, out var state));
        Assert.Equal(0, state.Remaining);
        Assert.False(limiter.TryAcquire("k:a", 4, out _));

        // 45 s into the next minute, a quarter of last minute's 3 + 1 still weighs: 1 + this one leaves 2.
        clock.Advance(TimeSpan.FromSeconds(75));
        Assert.True(limiter.TryAcquire("k:a", 4, out var next));
        Assert.Equal(2, next.Remaining);
    }

    [Fact]
    public void TakeChangedCounts_ReportsEachChangedWindowOnceWithAbsoluteCountsAndHashedUsers()
    {
        var clock = ClockAt(10);
        var limiter = new RequestRateLimiter(clock);
        limiter.TryAcquire("k:t:key1", 10, out _);
        limiter.TryAcquire("k:t:key1", 10, out _);
        limiter.TryAcquire("u:t:alice@example.com", 10, out _);

        var first = limiter.TakeChangedCounts();
        var second = limiter.TakeChangedCounts();
        clock.Advance(TimeSpan.FromMinutes(1));
        limiter.TryAcquire("k:t:key1", 10, out _);
        var afterTurn = limiter.TakeChangedCounts();

        var minute = limiter.CurrentMinute;
        Assert.Contains(("k:t:key1", minute - 1, 2), first);
        var user = Assert.Single(first, c => c.Key.StartsWith("u:t:", StringComparison.Ordinal));
        Assert.DoesNotContain("alice", user.Key, StringComparison.Ordinal);
        Assert.Equal(RequestRateLimiter.SharedKeyOf("u:t:alice@example.com"), user.Key);
        Assert.Empty(second);
        // After the minute turned: this minute's count and the last minute's final count.
        Assert.Equal([("k:t:key1", minute, 1), ("k:t:key1", minute - 1, 2)], afterTurn.OrderByDescending(c => c.Minute));
    }
}
