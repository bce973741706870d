using System.Globalization;
using System.Text;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// Where a process's resident memory goes (issue 26, item 1), taken inside the gateway process by the peer report's
/// <c>memory</c> command (<see cref="ServeMode"/>): the resident set split by what backs it (from <c>/proc/self/smaps</c>:
/// anonymous memory, the double-mapped JIT code, mapped assemblies and native libraries, the brk heap, stacks) and the
/// GC's own view (committed, heap size per generation, fragmentation). Anonymous memory less what the GC has committed
/// is native: SQLite's page caches, the runtime's own structures, malloc arenas, thread stacks.
/// All figures in KB.
/// </summary>
internal sealed class MemorySnapshot
{
    private readonly Dictionary<string, long> _kb;

    private MemorySnapshot(Dictionary<string, long> kb)
    {
        _kb = kb;
    }

    public long this[string key] => _kb.GetValueOrDefault(key);

    /// <summary>The rows of the report's memory table, in order: key and label.</summary>
    public static readonly (string Key, string Label)[] Rows =
    [
        ("rss", "Resident (VmRSS)"),
        ("gc_committed", "GC: committed by the managed heap"),
        ("gc_heap", "GC: heap size at the last GC (all generations)"),
        ("gc_gen0", "GC: gen0 after the last GC"),
        ("gc_gen1", "GC: gen1 after the last GC"),
        ("gc_gen2", "GC: gen2 after the last GC"),
        ("gc_loh", "GC: large object heap after the last GC"),
        ("gc_poh", "GC: pinned object heap after the last GC"),
        ("gc_fragmented", "GC: free space inside the heap (fragmentation)"),
        ("anon_native", "Anonymous, not the GC's (native: malloc arenas, SQLite caches, runtime structures)"),
        ("brk_heap", "of which the brk heap ([heap], malloc's main arena)"),
        ("malloc_in_use", "malloc: in use (all arenas, mallinfo2)"),
        ("malloc_free", "malloc: free but kept inside its arenas"),
        ("jit", "JIT-compiled code, stubs and executable loader heaps (/memfd:doublemapper)"),
        ("dll", "Mapped assemblies (.dll)"),
        ("so", "Mapped native libraries (.so)"),
        ("stacks", "Thread stacks (main and [stack:…] only; others are anonymous)"),
        ("other_file", "Other mapped files"),
        ("threads", "Threads (count)"),
        ("jit_methods", "Methods compiled by the JIT (count, every tier)"),
        ("jit_il_kb", "IL compiled by the JIT (KB)"),
        ("assemblies", "Assemblies loaded (count)"),
    ];

    /// <summary>The current process's snapshot.</summary>
    public static MemorySnapshot Take()
    {
        var kb = new Dictionary<string, long>();
        long anon = 0;
        if (File.Exists("/proc/self/smaps"))
        {
            string kind = "anon";
            foreach (var line in File.ReadLines("/proc/self/smaps"))
            {
                if (IsMappingHeader(line))
                {
                    kind = KindOf(line);
                }
                else if (line.StartsWith("Rss:", StringComparison.Ordinal))
                {
                    var value = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                    kb[kind] = kb.GetValueOrDefault(kind) + value;
                    if (kind is "anon" or "brk_heap")
                    {
                        anon += value;
                    }
                }
            }
        }

        foreach (var line in File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status") : Array.Empty<string>())
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                kb["rss"] = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                kb["threads"] = long.Parse(line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }

        var info = GC.GetGCMemoryInfo(GCKind.Any);
        kb["gc_committed"] = info.TotalCommittedBytes / 1024;
        kb["gc_heap"] = info.HeapSizeBytes / 1024;
        kb["gc_fragmented"] = info.FragmentedBytes / 1024;
        string[] generations = ["gc_gen0", "gc_gen1", "gc_gen2", "gc_loh", "gc_poh"];
        for (var i = 0; i < generations.Length && i < info.GenerationInfo.Length; i++)
        {
            kb[generations[i]] = info.GenerationInfo[i].SizeAfterBytes / 1024;
        }

        if (OperatingSystem.IsLinux())
        {
            try
            {
                var m = MallInfo2();
                kb["malloc_in_use"] = (long)((m.Uordblks + m.Hblkhd) / 1024);
                kb["malloc_free"] = (long)(m.Fordblks / 1024);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                // Not glibc (or older than 2.33): no malloc figures.
            }
        }

        // The GC's committed memory is anonymous; what anonymous memory is left over is native.
        kb["anon_native"] = Math.Max(0, anon - kb["gc_committed"]);
        kb["gc_collections"] = GC.CollectionCount(0);
        kb["gc_gen2_collections"] = GC.CollectionCount(2);
        kb["jit_methods"] = System.Runtime.JitInfo.GetCompiledMethodCount();
        kb["jit_il_kb"] = System.Runtime.JitInfo.GetCompiledILBytes() / 1024;
        kb["assemblies"] = AppDomain.CurrentDomain.GetAssemblies().Length;
        return new MemorySnapshot(kb);
    }

    /// <summary>glibc's <c>struct mallinfo2</c> (ten <c>size_t</c> fields).</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct MallocInfo
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallocInfo MallInfo2();

    // A mapping's header is "start-end perms offset dev inode [path]"; its fields are "Name: value" lines.
    private static bool IsMappingHeader(string line)
    {
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        return space > 0 && line[space - 1] != ':' && line.AsSpan(0, space).Contains('-');
    }

    private static string KindOf(string header)
    {
        // address perms offset dev inode [path]
        var fields = header.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        var path = fields.Length >= 6 ? fields[5].Trim() : "";
        return path switch
        {
            "" => "anon",
            "[heap]" => "brk_heap",
            _ when path.StartsWith("[stack", StringComparison.Ordinal) => "stacks",
            _ when path.StartsWith("/memfd:doublemapper", StringComparison.Ordinal) => "jit",
            _ when path.StartsWith('[') => "other_file",
            _ when path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) => "dll",
            _ when path.Contains(".so", StringComparison.Ordinal) => "so",
            _ => "other_file",
        };
    }

    /// <summary>One line, for the serve protocol: <c>key=value key=value …</c>.</summary>
    public string Serialize() => string.Join(' ', _kb.Select(p => $"{p.Key}={p.Value.ToString(CultureInfo.InvariantCulture)}"));

    public static MemorySnapshot Parse(string text) => new(text.Split(' ', StringSplitOptions.RemoveEmptyEntries)
        .Select(p => p.Split('=', 2))
        .Where(p => p.Length == 2 && long.TryParse(p[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
        .ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture)));

    /// <summary>
    /// A markdown table: one column per snapshot (MB; threads as a count).
    /// </summary>
    public static string Table(string title, IReadOnlyList<(string Column, MemorySnapshot? Snapshot)> columns)
    {
        var md = new StringBuilder();
        md.AppendLine(title);
        md.AppendLine();
        md.AppendLine("| Where it goes | " + string.Join(" | ", columns.Select(c => c.Column)) + " |");
        md.AppendLine("|---|" + string.Concat(columns.Select(_ => "---|")));
        foreach (var (key, label) in Rows)
        {
            var cells = columns.Select(c => c.Snapshot is null ? "—"
                : key is "threads" or "jit_methods" or "jit_il_kb" or "assemblies" ? c.Snapshot[key].ToString("N0", CultureInfo.InvariantCulture)
                : (c.Snapshot[key] / 1024.0).ToString("N0", CultureInfo.InvariantCulture));
            md.AppendLine(CultureInfo.InvariantCulture, $"| {label} | {string.Join(" | ", cells)} |");
        }

        return md.ToString();
    }
}
