using Keystone.Web.Features.Knowledge;
using Microsoft.Extensions.Time.Testing;

namespace Keystone.Web.Tests.Knowledge;

/// <summary>
/// The tenant's one-pass word statistics (decision 61): one pass shared by the questions that ask at once, kept for
/// the lifetime, then served while one new pass runs in the background; a failed pass is not kept.
/// </summary>
public sealed class KnowledgeTermStatsTests
{
    private static readonly Guid Tenant = Guid.NewGuid();

    [Fact]
    public async Task CommonWords_QuestionsAskingAtOnce_ShareOnePass_ThenItIsKept()
    {
        var stats = new KnowledgeTermStats(new FakeTimeProvider(DateTimeOffset.UtcNow));
        var pass = new TaskCompletionSource<CommonWords>();
        var passes = 0;
        Task<CommonWords> Pass(CancellationToken _)
        {
            Interlocked.Increment(ref passes);
            return pass.Task;
        }

        var first = stats.CommonAsync(Tenant, Pass, CancellationToken.None);
        var second = stats.CommonAsync(Tenant, Pass, CancellationToken.None);
        Assert.False(first.IsCompleted);
        pass.SetResult(new CommonWords(5_000, ["receipt"]));

        Assert.Same(await first, await second);
        Assert.Equal(["receipt"], (await stats.CommonAsync(Tenant, Pass, CancellationToken.None)).Lexemes);
        Assert.Equal(1, passes);
    }

    [Fact]
    public async Task CommonWords_PastTheLifetime_TheKeptOnesAnswerAtOnce_WhileOneNewPassRuns()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var stats = new KnowledgeTermStats(clock);
        var old = new CommonWords(5_000, ["receipt"]);
        await stats.CommonAsync(Tenant, _ => Task.FromResult(old), CancellationToken.None);
        clock.Advance(KnowledgeTermStats.Lifetime);

        var refresh = new TaskCompletionSource<CommonWords>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var passes = 0;
        Task<CommonWords> Pass(CancellationToken _)
        {
            Interlocked.Increment(ref passes);
            started.TrySetResult();
            return refresh.Task;
        }

        // The refresh has not answered: both questions get the kept statistics at once, and only one pass is started.
        Assert.Same(old, await stats.CommonAsync(Tenant, Pass, CancellationToken.None));
        await started.Task;
        Assert.Same(old, await stats.CommonAsync(Tenant, Pass, CancellationToken.None));
        Assert.Equal(1, passes);

        var fresh = new CommonWords(6_000, ["receipt", "manual"]);
        refresh.SetResult(fresh);
        var seen = old;
        for (var i = 0; i < 500 && !ReferenceEquals(seen, fresh); i++)
        {
            // The background pass stores its answer after it returns: wait for that (bounded), asserting no time.
            await Task.Delay(10);
            seen = await stats.CommonAsync(Tenant, Pass, CancellationToken.None);
        }

        Assert.Same(fresh, seen);
        Assert.Equal(1, passes);
    }

    [Fact]
    public async Task CommonWords_AFailedPass_IsNotKept_TheNextQuestionRunsItAgain()
    {
        var stats = new KnowledgeTermStats(new FakeTimeProvider(DateTimeOffset.UtcNow));

        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            stats.CommonAsync(Tenant, _ => Task.FromException<CommonWords>(new InvalidOperationException("database down")), CancellationToken.None));
        var again = await stats.CommonAsync(Tenant, _ => Task.FromResult(new CommonWords(2_000, ["manual"])), CancellationToken.None);

        Assert.Equal(["manual"], again.Lexemes);
    }
}
