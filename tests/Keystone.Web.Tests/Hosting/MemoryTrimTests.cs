using Keystone.Web.Hosting;

namespace Keystone.Web.Tests.Hosting;

/// <summary>
/// When the process gives memory back (issue 26, decision 0057): once per burst, only when allocation has stopped, never
/// closer together than the minimum gap.
/// </summary>
public sealed class MemoryTrimTests
{
    private const long Mb = 1L << 20;
    private const long Frequency = 1_000;

    [Fact]
    public void Tick_AfterABurstOnceQuiet_TrimsOnceAndNotAgainUntilTheNextBurst()
    {
        var policy = new QuietTrimPolicy();
        var allocated = 10 * Mb;
        var committed = 80 * Mb;
        Assert.False(policy.Tick(allocated, committed, Time(0), Frequency)); // start-up

        // A burst: 300 MB allocated over three ticks, the heap grows: busy, so no trim while it lasts.
        for (var second = 1; second <= 3; second++)
        {
            allocated += 100 * Mb;
            committed += 40 * Mb;
            Assert.False(policy.Tick(allocated, committed, Time(second), Frequency));
        }

        // Quiet: less than the quiet threshold over a tick.
        allocated += QuietTrimPolicy.QuietBytes - 1;
        Assert.True(policy.Tick(allocated, committed, Time(4), Frequency));
        policy.Trimmed(allocated, 90 * Mb);

        // Still quiet, nothing new: not again.
        for (var second = 5; second < 60; second++)
        {
            Assert.False(policy.Tick(allocated, 90 * Mb, Time(second), Frequency));
        }
    }

    [Fact]
    public void Tick_QuietAfterAStartThatAllocatedMuch_TrimsOnceForTheStart()
    {
        var policy = new QuietTrimPolicy();
        var allocated = 120 * Mb; // the EF model, the migrations, the console's services: garbage but committed
        Assert.False(policy.Tick(allocated, 36 * Mb, Time(0), Frequency)); // still starting: the tick saw it all

        Assert.True(policy.Tick(allocated, 36 * Mb, Time(1), Frequency));
        policy.Trimmed(allocated, 17 * Mb);

        // The next trim needs a whole burst, not another start's worth.
        allocated += QuietTrimPolicy.StartBytes + Mb;
        Assert.False(policy.Tick(allocated, 60 * Mb, Time(20), Frequency));
        Assert.False(policy.Tick(allocated, 60 * Mb, Time(21), Frequency));
    }

    [Fact]
    public void Tick_QuietAfterASmallStart_DoesNotTrim()
    {
        var policy = new QuietTrimPolicy();
        var allocated = QuietTrimPolicy.StartBytes - Mb;
        Assert.False(policy.Tick(allocated, 80 * Mb, Time(0), Frequency));
        Assert.False(policy.Tick(allocated, 80 * Mb, Time(1), Frequency));
    }

    [Fact]
    public void Tick_WhileTrafficGoesOn_NeverTrims()
    {
        var policy = new QuietTrimPolicy();
        var allocated = 0L;
        for (var second = 0; second < 120; second++)
        {
            allocated += 50 * Mb; // steady load: gigabytes allocated, the heap large, never a quiet tick
            Assert.False(policy.Tick(allocated, 400 * Mb, Time(second), Frequency));
        }
    }

    [Fact]
    public void Tick_ABurstThatLeftTheHeapSmall_IsNotWorthACollection()
    {
        var policy = new QuietTrimPolicy();
        policy.Trimmed(0, 80 * Mb);
        // 400 MB allocated, all of it died young: the committed heap is only a little above the last trim.
        Assert.False(policy.Tick(400 * Mb, 80 * Mb + QuietTrimPolicy.GrowthBytes - 1, Time(0), Frequency));
        Assert.False(policy.Tick(400 * Mb, 80 * Mb + QuietTrimPolicy.GrowthBytes - 1, Time(1), Frequency));
        Assert.True(policy.Tick(400 * Mb, 80 * Mb + QuietTrimPolicy.GrowthBytes, Time(2), Frequency));
    }

    [Fact]
    public void Tick_BurstsCloserThanTheMinimumGap_TrimAtMostOncePerGap()
    {
        var policy = new QuietTrimPolicy();
        var allocated = 0L;
        var trims = new List<int>();
        // A burst of 300 MB every other second, quiet in between: a trim would be due every other second.
        for (var second = 0; second < 40; second++)
        {
            if (second % 2 == 0)
            {
                allocated += 300 * Mb;
            }

            if (policy.Tick(allocated, 200 * Mb, Time(second), Frequency))
            {
                trims.Add(second);
                policy.Trimmed(allocated, 100 * Mb);
            }
        }

        Assert.NotEmpty(trims);
        Assert.All(trims.Zip(trims.Skip(1)), pair => Assert.True(pair.Second - pair.First >= QuietTrimPolicy.MinimumGap.TotalSeconds,
            $"trims at {pair.First} s and {pair.Second} s"));
    }

    private static long Time(int seconds) => seconds * Frequency;
}
