namespace Keystone.Web.Features.Usage.DemoHistory;

/// <summary>
/// A clock whose wall time can be set back per call (flowing with the async call, so calls made in parallel
/// each see their own time). Timers and timestamps stay real, so timeouts and latency measurements work.
/// </summary>
internal sealed class HistoryClock(TimeProvider real) : TimeProvider
{
    private readonly AsyncLocal<DateTimeOffset?> _now = new();

    /// <summary>Sets the wall time for the rest of the current async flow.</summary>
    public void Set(DateTime utc) => _now.Value = new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc));

    public override DateTimeOffset GetUtcNow() => _now.Value ?? real.GetUtcNow();
}
