using System.Globalization;
using System.Runtime;

namespace Keystone.Benchmarks;

/// <summary>
/// What the runtime did during a measured stretch: garbage collections and their pauses, and methods the JIT
/// compiled (tiered compilation still promoting methods shows up as a latency tail that steady state does not have).
/// </summary>
internal sealed class RuntimeActivity
{
    private readonly int _gen0 = GC.CollectionCount(0);
    private readonly int _gen1 = GC.CollectionCount(1);
    private readonly int _gen2 = GC.CollectionCount(2);
    private readonly TimeSpan _pause = GC.GetTotalPauseDuration();
    private readonly long _jitted = System.Runtime.JitInfo.GetCompiledMethodCount();
    private readonly TimeSpan _jitTime = System.Runtime.JitInfo.GetCompilationTime();
    private readonly long _allocated = GC.GetTotalAllocatedBytes();

    /// <summary>Bytes allocated on the managed heap since the start, by every thread of the process.</summary>
    public long AllocatedBytes => GC.GetTotalAllocatedBytes() - _allocated;

    public static RuntimeActivity Start() => new();

    public string Stop() => string.Create(CultureInfo.InvariantCulture,
        $"GCs gen0/1/2 {GC.CollectionCount(0) - _gen0}/{GC.CollectionCount(1) - _gen1}/{GC.CollectionCount(2) - _gen2}, GC pause {(GC.GetTotalPauseDuration() - _pause).TotalMilliseconds:0.0} ms, allocated {AllocatedBytes / 1048576.0:0} MB, "
        + $"methods jitted {System.Runtime.JitInfo.GetCompiledMethodCount() - _jitted} ({(System.Runtime.JitInfo.GetCompilationTime() - _jitTime).TotalMilliseconds:0} ms), server GC {GCSettings.IsServerGC}");
}
