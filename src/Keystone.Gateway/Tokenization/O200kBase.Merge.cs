using System.Buffers;

namespace Keystone.Gateway.Tokenization;

/// <summary>The byte-pair merge of one piece: a scan per merge for short pieces, a priority queue for long ones.</summary>
internal sealed partial class O200kBase
{
    /// <summary>
    /// The byte-pair merge. <c>parts[i]</c> is where the i-th current part starts and the rank of the bytes from there
    /// to the end of the part after it (what merging the two would make), or <see cref="int.MaxValue"/> when that is not
    /// a token. Each round merges the lowest-ranked pair, the leftmost on a tie, and recomputes the two ranks around it.
    /// Quadratic in the piece's length, which is the fastest for short pieces; a piece of more than
    /// <see cref="LargePiece"/> bytes goes to <see cref="MergeLarge"/>, the same merges in n log n.
    /// </summary>
    private int Merge(ReadOnlySpan<byte> bytes, List<int>? ids)
    {
        if (bytes.Length == 1)
        {
            ids?.Add(Rank(bytes));
            return 1;
        }

        if (bytes.Length > LargePiece)
        {
            return MergeLarge(bytes, ids);
        }

        (int Start, int Rank)[]? rented = null;
        var parts = bytes.Length + 1 <= 128 ? stackalloc (int, int)[128] : (rented = ArrayPool<(int, int)>.Shared.Rent(bytes.Length + 1));
        try
        {
            var count = bytes.Length + 1;
            for (var i = 0; i < count; i++)
            {
                parts[i] = (i, int.MaxValue);
            }

            for (var i = 0; i < count - 2; i++)
            {
                parts[i].Item2 = PairRank(bytes, parts, count, i);
            }

            while (count > 1)
            {
                var best = -1;
                var bestRank = int.MaxValue;
                for (var i = 0; i < count - 1; i++)
                {
                    if (parts[i].Item2 < bestRank)
                    {
                        bestRank = parts[i].Item2;
                        best = i;
                    }
                }

                if (best < 0)
                {
                    break;
                }

                // Remove the boundary after part `best`, then re-rank the merged part with its right neighbour and the
                // part before it with the merged part.
                parts[(best + 2)..count].CopyTo(parts[(best + 1)..]);
                count--;
                parts[best].Item2 = PairRank(bytes, parts, count, best);
                if (best > 0)
                {
                    parts[best - 1].Item2 = PairRank(bytes, parts, count, best - 1);
                }
            }

            for (var i = 0; i < count - 1; i++)
            {
                ids?.Add(Rank(bytes[parts[i].Item1..parts[i + 1].Item1]));
            }

            return count - 1;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<(int, int)>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Above this many bytes a piece is merged with a priority queue instead of a scan per merge.</summary>
    internal const int LargePiece = 128;

    /// <summary>
    /// The same merges as <see cref="Merge"/> (lowest rank first, leftmost on a tie), found with a priority queue
    /// ordered by (rank, start) instead of a scan per merge: n log n instead of n², so that a long piece — a run of
    /// whitespace, which <see cref="TokenCounter.Segments"/> does not cut, or 256 characters of a script of three or four
    /// UTF-8 bytes each — cannot pin a core (Microsoft.ML.Tokenizers 2.0.1 scans: see the --tokenizer benchmark's run of spaces).
    /// The parts are a linked list over their start offsets; a queued pair is stale when its left part was merged away
    /// or its rank has changed since. A pair's rank names its bytes, and a part only grows, so a stale entry never
    /// looks current.
    /// </summary>
    private int MergeLarge(ReadOnlySpan<byte> bytes, List<int>? ids)
    {
        var n = bytes.Length;
        var next = ArrayPool<int>.Shared.Rent(n + 1);
        var prev = ArrayPool<int>.Shared.Rent(n + 1);
        var pairRank = ArrayPool<int>.Shared.Rent(n + 1);
        try
        {
            var queue = new PriorityQueue<int, long>(n);
            for (var i = 0; i < n; i++)
            {
                next[i] = i + 1;
                prev[i] = i - 1;
                pairRank[i] = i + 2 <= n && Rank(bytes[i..(i + 2)]) is var r and >= 0 ? r : int.MaxValue;
                if (pairRank[i] != int.MaxValue)
                {
                    queue.Enqueue(i, ((long)pairRank[i] << 32) | (uint)i);
                }
            }

            next[n] = n;
            var count = n;
            while (queue.TryDequeue(out var left, out var priority))
            {
                if (pairRank[left] != (int)(priority >> 32))
                {
                    continue;
                }

                // Merge the part at `left` with the one after it; then re-rank it with its new right neighbour and the
                // part before it with it.
                var right = next[left];
                next[left] = next[right];
                prev[next[right]] = left;
                pairRank[right] = int.MaxValue;
                count--;
                pairRank[left] = PairRankLarge(bytes, next, left);
                if (pairRank[left] != int.MaxValue)
                {
                    queue.Enqueue(left, ((long)pairRank[left] << 32) | (uint)left);
                }

                if (prev[left] is var before and >= 0)
                {
                    pairRank[before] = PairRankLarge(bytes, next, before);
                    if (pairRank[before] != int.MaxValue)
                    {
                        queue.Enqueue(before, ((long)pairRank[before] << 32) | (uint)before);
                    }
                }
            }

            if (ids is not null)
            {
                for (var start = 0; start < n; start = next[start])
                {
                    ids.Add(Rank(bytes[start..next[start]]));
                }
            }

            return count;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(next);
            ArrayPool<int>.Shared.Return(prev);
            ArrayPool<int>.Shared.Return(pairRank);
        }
    }

    /// <summary>Rank of the part at <paramref name="start"/> merged with the part after it, or <see cref="int.MaxValue"/>.</summary>
    private int PairRankLarge(ReadOnlySpan<byte> bytes, int[] next, int start)
    {
        var end = next[start];
        if (end >= bytes.Length)
        {
            return int.MaxValue;
        }

        var rank = Rank(bytes[start..next[end]]);
        return rank < 0 ? int.MaxValue : rank;
    }

    /// <summary>Rank of parts <paramref name="i"/> and <paramref name="i"/>+1 merged, or <see cref="int.MaxValue"/>.</summary>
    private int PairRank(ReadOnlySpan<byte> bytes, Span<(int Start, int Rank)> parts, int count, int i)
    {
        if (i + 2 >= count)
        {
            return int.MaxValue;
        }

        var rank = Rank(bytes[parts[i].Start..parts[i + 2].Start]);
        return rank < 0 ? int.MaxValue : rank;
    }
}
