using Microsoft.Extensions.Options;

namespace Keystone.Web.Hosting;

/// <summary>The <c>Memory</c> configuration section (decision 0057).</summary>
internal sealed class MemoryTrimOptions
{
    public const string SectionName = "Memory";

    /// <summary>
    /// Give memory back when the process goes quiet after a burst of traffic (<see cref="MemoryTrim"/>). Default true;
    /// false leaves the heap to the GC alone (it then keeps a burst's garbage until traffic returns).
    /// </summary>
    public bool TrimWhenQuiet { get; set; } = true;

    /// <summary>
    /// The kind of collection the trim asks for. Default true: a blocking, compacting collection in the GC's aggressive
    /// mode, which returns every freed region to the system (measured: 252 MB resident after the benchmark's series).
    /// False: a background full collection, the kind the GC starts itself (request threads keep running while it
    /// marks), which frees the garbage but keeps most of the freed pages resident (324 MB in the same run).
    /// </summary>
    public bool TrimCompacts { get; set; } = true;
}

/// <summary>
/// When to give memory back (issue 26, decisions 0057 and 0065): after start-up (<see cref="StartBytes"/>) and after a
/// burst (at least <see cref="BurstBytes"/> allocated and
/// the GC's committed memory <see cref="GrowthBytes"/> above what it was after the last trim), once the process is
/// quiet (less than <see cref="QuietBytes"/> allocated over the last tick), and at most every <see cref="MinimumGap"/>.
/// What it reads is process-wide, so the service uses one process-wide policy (<see cref="Process"/>): several hosts in
/// one process (tests) act as one.
/// </summary>
internal sealed class QuietTrimPolicy
{
    /// <summary>The process's policy (the hosted service's).</summary>
    internal static readonly QuietTrimPolicy Process = new();

    /// <summary>A burst: this much allocated since the last trim (about 5,000 API calls).</summary>
    internal const long BurstBytes = 256L << 20;

    /// <summary>
    /// Start-up counts as a burst once it allocated this much (decision 0065): building the EF model, checking and
    /// applying migrations and the console's services allocate about 120 MB, of which about 17 MB stays live; the rest
    /// stayed committed (about 20 MB resident) until traffic came.
    /// </summary>
    internal const long StartBytes = 64L << 20;

    /// <summary>Quiet: less than this allocated over one tick (a few dozen API calls).</summary>
    internal const long QuietBytes = 4L << 20;

    /// <summary>Worth giving back: the GC's committed memory this much above what it was after the last trim.</summary>
    internal const long GrowthBytes = 32L << 20;

    /// <summary>Trims are at least this far apart, so a bursty load pays a collection at most this often.</summary>
    internal static readonly TimeSpan MinimumGap = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private long _allocatedAtTrim;
    private long _committedAtTrim;
    private long _allocatedAtTick;
    private long _trimmedAt = long.MinValue;

    /// <summary>
    /// One tick's decision from the process's total allocated bytes, the GC's committed bytes and the clock's timestamp
    /// (in <paramref name="frequency"/> ticks per second). True once per burst: the caller trims and then reports
    /// <see cref="Trimmed"/>.
    /// </summary>
    public bool Tick(long allocated, long committed, long timestamp, long frequency)
    {
        lock (_gate)
        {
            var inTick = allocated - _allocatedAtTick;
            _allocatedAtTick = allocated;
            var first = _trimmedAt == long.MinValue;
            var gapPassed = first || (timestamp - _trimmedAt) >= MinimumGap.TotalSeconds * frequency;
            if (allocated - _allocatedAtTrim >= (first ? StartBytes : BurstBytes) && inTick < QuietBytes && committed - _committedAtTrim >= GrowthBytes && gapPassed)
            {
                _trimmedAt = timestamp;
                return true;
            }

            return false;
        }
    }

    /// <summary>What the process holds right after a trim: the next burst is measured from here.</summary>
    public void Trimmed(long allocated, long committed)
    {
        lock (_gate)
        {
            _allocatedAtTrim = allocated;
            _allocatedAtTick = allocated;
            _committedAtTrim = committed;
        }
    }
}

/// <summary>
/// Gives memory back to the system when the process goes quiet after a burst (issue 26, decision 0057). The .NET GC
/// collects only when something allocates: after a burst of recorded calls, the queued records, answers and batches it
/// promoted to gen2 stay there, committed, until enough new traffic comes to start a full collection; an idle instance
/// kept 100+ MB of a finished burst's garbage resident (docs/benchmarks.md, issue 26). Once per burst, when allocation
/// has stopped, one full compacting collection in the GC's aggressive mode (it also returns the freed regions to the
/// system) and glibc's <c>malloc_trim</c> (freed native memory: SQLite's caches, the runtime) give it back. The
/// collection pauses the process (tens of milliseconds on two cores with the live heap of an idle instance), which is
/// why it runs only when the process has been quiet for a tick and at most every <see cref="QuietTrimPolicy.MinimumGap"/>.
/// </summary>
internal sealed partial class MemoryTrim(IOptions<MemoryTrimOptions> options, TimeProvider clock, ILogger<MemoryTrim> log) : BackgroundService
{
    /// <summary>How often allocation is looked at.</summary>
    internal static readonly TimeSpan TickInterval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.TrimWhenQuiet)
        {
            return;
        }

        using var timer = new PeriodicTimer(TickInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (QuietTrimPolicy.Process.Tick(GC.GetTotalAllocatedBytes(), GC.GetGCMemoryInfo().TotalCommittedBytes, clock.GetTimestamp(), clock.TimestampFrequency))
                {
                    await TrimAsync(options.Value.TrimCompacts, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task TrimAsync(bool compact, CancellationToken ct)
    {
        var started = clock.GetTimestamp();
        var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        if (compact)
        {
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
        else
        {
            // Starts a background collection and returns; it is done when the last completed background collection
            // is a newer one (waited for at most 10 s: the figures logged are then those of that moment).
            var backgroundBefore = GC.GetGCMemoryInfo(GCKind.Background).Index;
            var blockingBefore = GC.GetGCMemoryInfo(GCKind.FullBlocking).Index;
            GC.Collect(2, GCCollectionMode.Forced, blocking: false, compacting: false);
            for (var waited = 0; GC.GetGCMemoryInfo(GCKind.Background).Index == backgroundBefore
                && GC.GetGCMemoryInfo(GCKind.FullBlocking).Index == blockingBefore && waited < 200; waited++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), clock, ct);
            }
        }

        NativeMemory.TrimMalloc();
        var after = GC.GetGCMemoryInfo().TotalCommittedBytes;
        QuietTrimPolicy.Process.Trimmed(GC.GetTotalAllocatedBytes(), after);
        LogTrimmed(log, before >> 20, after >> 20, compact ? "compacting" : "background", clock.GetElapsedTime(started).TotalMilliseconds);
    }

    [LoggerMessage(EventId = 9400, Level = LogLevel.Information,
        Message = "Quiet after a burst: a {Kind} full collection gave back memory ({Before} MB committed, now {After} MB) in {Milliseconds:0} ms")]
    private static partial void LogTrimmed(ILogger log, long before, long after, string kind, double milliseconds);
}

internal static class MemoryTrimSetup
{
    /// <summary>Binds <see cref="MemoryTrimOptions"/> and runs <see cref="MemoryTrim"/>.</summary>
    public static IServiceCollection AddKeystoneMemoryTrim(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<MemoryTrimOptions>().BindConfiguration(MemoryTrimOptions.SectionName);
        services.AddHostedService<MemoryTrim>();
        return services;
    }
}
