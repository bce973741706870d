using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Approvals;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Agents;

/// <summary>Run notices on the approvals' channel: who hears what, when a view stops hearing, and the safety poll.</summary>
public sealed class AgentRunNoticesTests
{
    private static readonly Guid Acme = Guid.NewGuid();
    private static readonly Guid Globex = Guid.NewGuid();

    private static AgentRunNotices Notices(IApprovalSourceNotices channel, int safetyPollSeconds = 15)
        => new(channel, Options.Create(new AgentsOptions { LiveSafetyPollSeconds = safetyPollSeconds }));

    [Fact]
    public void Subscribe_ForOneRun_HearsThatRunAndTheReconnectNotice_NotOtherRunsOrTenants()
    {
        var channel = new InProcessApprovalNotices(NullLogger<ApprovalNotices>.Instance);
        var notices = Notices(channel);
        var run = Guid.NewGuid();
        var heard = new List<Guid>();
        using var subscription = notices.Subscribe(Acme, run, heard.Add);

        notices.Changed(Acme, run);
        notices.Changed(Acme, Guid.NewGuid());
        notices.Changed(Globex, run);
        channel.PublishSource(Guid.Empty, Guid.Empty); // A listener that reconnected: anything may have changed.

        Assert.Equal(new List<Guid> { run, Guid.Empty }, heard);
    }

    [Fact]
    public void Subscribe_ForATenant_HearsEachOfItsRuns_AndNothingOnceDisposed()
    {
        var notices = Notices(new InProcessApprovalNotices(NullLogger<ApprovalNotices>.Instance));
        var heard = new List<Guid>();
        var subscription = notices.Subscribe(Acme, null, heard.Add);
        var (first, second) = (Guid.NewGuid(), Guid.NewGuid());

        notices.Changed(Acme, first);
        notices.Changed(Acme, second);
        subscription.Dispose();
        subscription.Dispose();
        notices.Changed(Acme, first);

        Assert.Equal(new List<Guid> { first, second }, heard);
    }

    [Fact]
    public void SafetyPoll_EveryChangeReachesThisInstance_IsTheSetting_ElseAtMostTwoSeconds()
    {
        // SQLite's one instance, PostgreSQL listening across instances, and PostgreSQL without listening (the default).
        Assert.Equal(TimeSpan.FromSeconds(15), Notices(new InProcessApprovalNotices(NullLogger<ApprovalNotices>.Instance)).SafetyPoll);
        Assert.Equal(TimeSpan.FromSeconds(15), Notices(Postgres(listen: true)).SafetyPoll);
        Assert.Equal(AgentRunNotices.NotListeningPoll, Notices(Postgres(listen: false)).SafetyPoll);
        Assert.Equal(TimeSpan.FromSeconds(1), Notices(Postgres(listen: false), 1).SafetyPoll);
    }

    /// <summary>PostgreSQL mode's notices, never started here: the connection string is never used.</summary>
    private static PostgresApprovalNotices Postgres(bool listen) => new(
        new Keystone.Data.KeystoneDbFactory(Options.Create(new Keystone.Data.DatabaseOptions { Provider = Keystone.Data.DatabaseProvider.Postgres }),
            new Keystone.Data.KeystoneConnectionStrings { BaseDirectory = Path.GetTempPath(), Postgres = "Host=127.0.0.1;Database=unused" }),
        TimeProvider.System, Options.Create(new ApprovalsOptions { ListenAcrossInstances = listen }), NullLogger<ApprovalNotices>.Instance);

    [Fact]
    public async Task Wakeup_ASignalEndsTheWaitAtOnce_SignalsFoldIntoOne_AndWithoutOneTheWaitEndsAtTheSafetyPoll()
    {
        using var wakeup = new LiveWakeup();
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();

        wakeup.Set();
        wakeup.Set();
        var first = await wakeup.WaitAsync(TimeSpan.FromMinutes(10), clock, CancellationToken.None);
        var waiting = wakeup.WaitAsync(TimeSpan.FromMinutes(10), clock, CancellationToken.None);
        var pendingBeforeTheClockMoves = waiting.IsCompleted;
        clock.Advance(TimeSpan.FromMinutes(10));
        var second = await waiting;

        Assert.True(first);
        Assert.False(pendingBeforeTheClockMoves); // The two signals were one.
        Assert.False(second);
    }
}
