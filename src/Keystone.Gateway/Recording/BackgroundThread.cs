using System.Runtime.InteropServices;

namespace Keystone.Gateway.Recording;

/// <summary>
/// Lowers the calling thread's scheduling priority. .NET's <see cref="Thread.Priority"/> is not applied on
/// Linux, where a thread's priority is its own nice value (<c>setpriority</c> with the thread id); raising
/// it back would need privileges, lowering never does.
/// </summary>
internal static class BackgroundThread
{
    /// <summary>Best effort: makes the calling thread <paramref name="by"/> nicer (at most 19); true when done.</summary>
    public static bool LowerPriority(int by)
    {
        if (OperatingSystem.IsWindows())
        {
            Thread.CurrentThread.Priority = ThreadPriority.BelowNormal;
            return true;
        }

        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            var tid = GetTid();
            return SetPriority(PrioProcess, tid, Math.Min(19, GetPriority(PrioProcess, tid) + by)) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // A libc without gettid (older than glibc 2.30): the writer runs at normal priority.
            return false;
        }
    }

    private const int PrioProcess = 0;

    // DllImport rather than LibraryImport: the generated marshalling needs unsafe code, and these signatures are
    // blittable (no marshalling either way).
    [DllImport("libc", EntryPoint = "setpriority")]
    private static extern int SetPriority(int which, int who, int prio);

    [DllImport("libc", EntryPoint = "getpriority")]
    private static extern int GetPriority(int which, int who);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
}
