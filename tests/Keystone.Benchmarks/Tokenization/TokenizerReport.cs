using System.Diagnostics;
using System.Globalization;
using System.Text;
using Keystone.Gateway.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Keystone.Benchmarks.Tokenization;

/// <summary>
/// Keystone's compact o200k_base (decision 0067) against Microsoft.ML.Tokenizers' in one process, one run: the managed
/// heap each holds once loaded (forced full collections before and after the load, the loaded object kept alive), the
/// time to load, and the count of a 2 KB prompt (ns per prompt, bytes allocated per prompt), in interleaved rounds so
/// that both sides see the same machine. Both must give the same counts (checked on every prompt).
///   dotnet run -c Release --project tests/Keystone.Benchmarks -- --tokenizer [rounds]
/// </summary>
internal static class TokenizerReport
{
    private const int Prompts = 64;
    private const int PromptChars = 2048;

    public static string Run(int rounds, TextWriter progress)
    {
        var prompts = MakePrompts();
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores, load average {LoadAverage()} at the start, .NET {Environment.Version}, server GC {System.Runtime.GCSettings.IsServerGC}.");
        md.AppendLine();

        // Ours first, then Microsoft.ML.Tokenizers': each measured from a heap that holds neither.
        var (ours, oursBytes, oursLoad) = Load(() => new TokenCounter(), c => c.Count("warm"));
        progress.WriteLine($"compact: {oursBytes / 1e6:F1} MB, {oursLoad.TotalMilliseconds:F0} ms");
        var (theirs, theirsBytes, theirsLoad) = Load(() => TiktokenTokenizer.CreateForEncoding("o200k_base"), t => t.CountTokens("warm"));
        progress.WriteLine($"Microsoft.ML.Tokenizers: {theirsBytes / 1e6:F1} MB, {theirsLoad.TotalMilliseconds:F0} ms");

        int CountOurs(string text) => ours.Count(text);
        int CountTheirs(string text)
        {
            var total = 0;
            foreach (var (start, length) in TokenCounter.Segments(text))
            {
                total += theirs.CountTokens(text.AsSpan(start, length));
            }

            return total;
        }

        foreach (var prompt in prompts)
        {
            if (CountOurs(prompt) != CountTheirs(prompt))
            {
                throw new InvalidOperationException("The two counters disagree on a prompt; the report would compare different work.");
            }
        }

        // Warm both (JIT, Microsoft.ML.Tokenizers' word cache), then interleave rounds of 2,000 counts each.
        Measure(CountOurs, prompts, 2_000);
        Measure(CountTheirs, prompts, 2_000);
        var oursNs = new List<double>();
        var theirsNs = new List<double>();
        double oursAlloc = 0, theirsAlloc = 0;
        for (var round = 0; round < rounds; round++)
        {
            (var ns, oursAlloc) = Measure(CountOurs, prompts, 2_000);
            oursNs.Add(ns);
            (ns, theirsAlloc) = Measure(CountTheirs, prompts, 2_000);
            theirsNs.Add(ns);
            progress.WriteLine($"round {round + 1}: compact {oursNs[^1]:F0} ns, Microsoft.ML.Tokenizers {theirsNs[^1]:F0} ns per prompt");
        }

        // One long piece: a run of whitespace is never cut by TokenCounter.Segments, so its merge's cost shows as is.
        // Each measured after one warm-up run of a shorter one (JIT).
        var longPieces = new List<(int Spaces, TimeSpan Ours, TimeSpan Theirs)>();
        CountOurs("a" + new string(' ', 1_000) + "b");
        CountTheirs("a" + new string(' ', 1_000) + "b");
        foreach (var length in new[] { 20_000, 100_000 })
        {
            var spaces = "a" + new string(' ', length) + "b";
            var clock = Stopwatch.StartNew();
            var spacesOurs = CountOurs(spaces);
            var oursSpaces = clock.Elapsed;
            clock.Restart();
            var spacesTheirs = CountTheirs(spaces);
            longPieces.Add((length, oursSpaces, clock.Elapsed));
            if (spacesOurs != spacesTheirs)
            {
                throw new InvalidOperationException("The two counters disagree on the run of spaces.");
            }

            progress.WriteLine($"{length:N0} spaces: compact {oursSpaces.TotalMilliseconds:F1} ms, Microsoft.ML.Tokenizers {clock.Elapsed.TotalMilliseconds:F0} ms");
        }

        var tokens = prompts.Average(p => (double)ours.Count(p));
        md.AppendLine(CultureInfo.InvariantCulture, $"{Prompts} distinct prompts of {PromptChars:N0} characters (prose, code, JSON, numbers, a little CJK and emoji; {tokens:F0} tokens on average), {rounds} interleaved rounds of 2,000 counts, medians.");
        md.AppendLine();
        md.AppendLine("| | compact o200k (Keystone) | Microsoft.ML.Tokenizers 2.0.1 | ratio |");
        md.AppendLine("|---|---:|---:|---:|");
        md.AppendLine(CultureInfo.InvariantCulture, $"| managed heap held once loaded | {oursBytes / 1e6:F1} MB | {theirsBytes / 1e6:F1} MB | {(double)oursBytes / theirsBytes:F2} |");
        var (blob, offsets, slots) = O200kBase.Load().TableBytes;
        md.AppendLine(CultureInfo.InvariantCulture, $"| of which: token bytes / rank offsets / hash slots | {blob / 1e6:F2} / {offsets / 1e6:F2} / {slots / 1e6:F2} MB | | |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| first load (read + build) | {oursLoad.TotalMilliseconds:F0} ms | {theirsLoad.TotalMilliseconds:F0} ms | {oursLoad / theirsLoad:F2} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| count of a 2 KB prompt | {Median(oursNs) / 1000:F1} µs | {Median(theirsNs) / 1000:F1} µs | {Median(oursNs) / Median(theirsNs):F2} |");
        foreach (var (length, o, t) in longPieces)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| count of one piece of {length:N0} spaces (once) | {o.TotalMilliseconds:F1} ms | {t.TotalMilliseconds:F0} ms | {o / t:F3} |");
        }

        md.AppendLine(CultureInfo.InvariantCulture, $"| allocated per count | {oursAlloc:F0} B | {theirsAlloc:F0} B | |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| rounds (µs per prompt) | {string.Join(", ", oursNs.Select(n => (n / 1000).ToString("F1", CultureInfo.InvariantCulture)))} | {string.Join(", ", theirsNs.Select(n => (n / 1000).ToString("F1", CultureInfo.InvariantCulture)))} | |");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Load average at the end: {LoadAverage()}.");
        GC.KeepAlive(ours);
        GC.KeepAlive(theirs);
        return md.ToString();
    }

    /// <summary>The managed heap a loaded tokenizer holds: full blocking collections before and after, the object alive.</summary>
    private static (T Value, long Bytes, TimeSpan Load) Load<T>(Func<T> create, Func<T, int> touch)
    {
        var before = Settle();
        var clock = Stopwatch.StartNew();
        var value = create();
        touch(value);
        var load = clock.Elapsed;
        var after = Settle();
        GC.KeepAlive(value);
        return (value, after - before, load);
    }

    private static long Settle()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static (double NsPerPrompt, double BytesPerPrompt) Measure(Func<string, int> count, string[] prompts, int n)
    {
        var sink = 0;
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < n; i++)
        {
            sink += count(prompts[i % prompts.Length]);
        }

        var elapsed = clock.Elapsed;
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        GC.KeepAlive(sink);
        return (elapsed.TotalNanoseconds / n, (double)allocated / n);
    }

    private static string[] MakePrompts()
    {
        string[] fragments =
        [
            "You are a helpful assistant for Contoso's billing team. Answer briefly, cite the invoice number, and never reveal internal notes. ",
            "The customer's account was created on 2024-03-17 and upgraded to the Business plan on 2025-11-02; the last payment of $1,249.00 failed twice. ",
            "If the question is about refunds, follow the policy: full refund within 30 days, 50% within 90 days, otherwise none. ",
            "```json\n{\"invoice\":\"INV-20417\",\"lines\":[{\"sku\":\"SEAT-PRO\",\"qty\":12,\"unit\":49.5}],\"currency\":\"USD\",\"paid\":false}\n```\n",
            "def total(lines):\n    return sum(l['qty'] * l['unit'] for l in lines)  # before tax\n",
            "Don't guess; if you're unsure, say you'll check and we'll follow up. It's fine to ask one clarifying question. ",
            "Regional notes: 東京オフィス, München, São Paulo, Zürich — prices in local currency 🙂. ",
            "Error codes: E1001 (card declined), E1002 (expired), E2040 (3-D Secure failed), E9999 (unknown).\n",
        ];
        var random = new Random(2048);
        var prompts = new string[Prompts];
        for (var i = 0; i < prompts.Length; i++)
        {
            var sb = new StringBuilder();
            while (sb.Length < PromptChars)
            {
                sb.Append(fragments[random.Next(fragments.Length)]);
                sb.Append(CultureInfo.InvariantCulture, $"Case {random.Next(100_000)}: ");
            }

            prompts[i] = sb.ToString(0, PromptChars);
        }

        return prompts;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }
}
