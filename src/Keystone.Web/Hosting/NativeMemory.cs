using System.Runtime.InteropServices;

namespace Keystone.Web.Hosting;

/// <summary>
/// The native allocator on Linux (glibc's malloc: SQLite's page caches and statements, the runtime's own structures,
/// OpenSSL) held to two arenas (issue 26, decision 0053). By default glibc gives a thread that meets contention an
/// arena of its own, up to eight per core, and memory freed in an arena stays there for that arena's threads. On the
/// 2-core box the recorder's thread, Hangfire's workers and the request threads all reach SQLite, and freed memory
/// piled up in their arenas: measured with the peer benchmark, about 29 MB sat free inside malloc after the runs, half
/// of that with two arenas (docs/benchmarks.md), at no throughput cost measured beside it in the same run. Two arenas
/// still let two cores allocate without waiting on each other.
/// </summary>
/// <remarks>
/// Must run before the host starts its threads (first thing in Program): arenas are created as threads first allocate
/// under contention, and one created stays. <c>MALLOC_ARENA_MAX</c> in the environment wins (glibc reads it itself at
/// start; then nothing is changed here), so a deployment can choose another number without a rebuild (README).
/// Other C libraries (musl) and other systems are left as they are.
/// </remarks>
internal static class NativeMemory
{
    /// <summary>Arenas glibc's malloc may use unless <c>MALLOC_ARENA_MAX</c> says otherwise.</summary>
    public const int DefaultMallocArenas = 2;

    private const string ArenaMaxVariable = "MALLOC_ARENA_MAX";

    // mallopt's parameter number for the arena limit (glibc's malloc.h: M_ARENA_MAX).
    private const int MArenaMax = -8;

    /// <summary>Applies <see cref="DefaultMallocArenas"/>; true when glibc took it.</summary>
    public static bool LimitMallocArenas()
    {
        if (!OperatingSystem.IsLinux() || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(ArenaMaxVariable)))
        {
            return false;
        }

        try
        {
            return MallOpt(MArenaMax, DefaultMallocArenas) == 1;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl has no mallopt): its allocator is left as it is.
            return false;
        }
    }

    /// <summary>
    /// Returns the free memory glibc's malloc keeps inside its arenas to the system (<c>malloc_trim(0)</c>: the top of
    /// each heap is released and free pages inside them are handed back); called by <see cref="MemoryTrim"/> after a
    /// burst. Nothing elsewhere (musl, other systems). True when glibc released something.
    /// </summary>
    public static bool TrimMalloc()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            return MallocTrim(0) == 1;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    // DllImport rather than LibraryImport: the signature is blittable, and the generated marshalling needs unsafe code
    // (as in BackgroundThread).
    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}
