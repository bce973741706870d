using Keystone.Web.Components.Shared;
using Microsoft.Extensions.Time.Testing;

namespace Keystone.Web.Tests.Shared;

public sealed class RenderBatcherTests
{
    [Fact]
    public async Task Tick_ManyChangesWithinOneInterval_RendersOnce()
    {
        var time = new FakeTimeProvider();
        var renders = 0;
        await using var batcher = new RenderBatcher(time, TimeSpan.FromMilliseconds(50), () => { renders++; return Task.CompletedTask; });

        for (var i = 0; i < 100; i++)
        {
            batcher.MarkDirty();
        }

        time.Advance(TimeSpan.FromMilliseconds(50));
        await WaitForAsync(() => batcher.Batches == 1);

        Assert.Equal(1, renders);
    }

    [Fact]
    public async Task Tick_NothingChanged_DoesNotRender()
    {
        var time = new FakeTimeProvider();
        var renders = 0;
        await using var batcher = new RenderBatcher(time, TimeSpan.FromMilliseconds(50), () => { renders++; return Task.CompletedTask; });
        batcher.MarkDirty();
        time.Advance(TimeSpan.FromMilliseconds(50));
        await WaitForAsync(() => batcher.Batches == 1);

        time.Advance(TimeSpan.FromMilliseconds(50));
        time.Advance(TimeSpan.FromMilliseconds(50));
        await batcher.FlushNowAsync();

        Assert.Equal(1, renders);
    }

    [Fact]
    public async Task FlushNow_PendingChange_RendersWithoutWaitingForTheTick()
    {
        var time = new FakeTimeProvider();
        var renders = 0;
        await using var batcher = new RenderBatcher(time, TimeSpan.FromMilliseconds(50), () => { renders++; return Task.CompletedTask; });
        batcher.MarkDirty();

        await batcher.FlushNowAsync();

        Assert.Equal(1, renders);
        Assert.Equal(1, batcher.Batches);
    }

    // The timer's callback runs on the thread pool after Advance: wait for its effect, bounded.
    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(5, cts.Token);
        }
    }
}
