namespace Keystone.Gateway.Recording;

/// <summary>
/// The search text of the traces the recorder just committed on SQLite, held for the background indexer (issue 26,
/// decision 0071). The recorder has the redacted text in memory when it writes a batch; without this the indexer read
/// each trace's pack back, decompressed it and derived and redacted the same text again (about half of its CPU per
/// trace). The indexer takes a trace's text from here when it has it (same trace rowid and call id) and derives it from
/// the stored payloads otherwise (after a restart, traces of another process, a hand-off dropped at the cap), so what is
/// held is an optimisation, never the record: losing it costs CPU, not a trace.
/// </summary>
/// <remarks>
/// Bounded by <see cref="MaxChars"/>: when the indexer falls behind (or is failing), further batches are not held and
/// it falls back to the packs for them, rather than the recorder's memory growing with the backlog.
/// </remarks>
internal sealed class SearchTextHandoff
{
    /// <summary>What is held at most, in UTF-16 chars (8 MiB): a few passes' worth of realistic traces (~1–2 KB of text each).</summary>
    internal const int DefaultMaxChars = 4 * 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly Dictionary<long, (Guid CallId, string Text)> _texts = [];
    private long _chars;
    private long _dropped;
    private long _taken;

    public SearchTextHandoff()
        : this(DefaultMaxChars)
    {
    }

    internal SearchTextHandoff(int maxChars)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChars, 1);
        MaxChars = maxChars;
    }

    /// <summary>The cap on what is held, in chars.</summary>
    public int MaxChars { get; }

    /// <summary>True when nothing more is taken: the recorder need not derive text that would be dropped.</summary>
    public bool IsFull
    {
        get
        {
            lock (_lock)
            {
                return _chars >= MaxChars;
            }
        }
    }

    /// <summary>Traces held now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _texts.Count;
            }
        }
    }

    /// <summary>Chars held now.</summary>
    public long Chars
    {
        get
        {
            lock (_lock)
            {
                return _chars;
            }
        }
    }

    /// <summary>Traces offered but not held (the cap was reached): the indexer derived their text from the packs.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Traces the indexer indexed with a held text.</summary>
    public long Taken => Interlocked.Read(ref _taken);

    /// <summary>
    /// Holds the texts of committed traces (by trace rowid) until the indexer passes them. Offer only what is committed:
    /// the indexer trusts a held text for its rowid and call id. What does not fit under the cap is dropped.
    /// </summary>
    public void Offer(IEnumerable<(long Rowid, Guid CallId, string Text)> traces)
    {
        lock (_lock)
        {
            foreach (var (rowid, callId, text) in traces)
            {
                if (_chars + text.Length > MaxChars)
                {
                    Interlocked.Increment(ref _dropped);
                    continue;
                }

                if (_texts.Remove(rowid, out var replaced))
                {
                    // The same rowid again (its trace deleted and the rowid reused): the newer trace's text.
                    _chars -= replaced.Text.Length;
                }

                _texts[rowid] = (callId, text);
                _chars += text.Length;
            }
        }
    }

    /// <summary>The held text of the trace at <paramref name="rowid"/>, if it is this call's (and then no longer held).</summary>
    public bool TryTake(long rowid, Guid callId, out string text)
    {
        lock (_lock)
        {
            if (_texts.TryGetValue(rowid, out var held) && held.CallId == callId)
            {
                _texts.Remove(rowid);
                _chars -= held.Text.Length;
                text = held.Text;
                Interlocked.Increment(ref _taken);
                return true;
            }
        }

        text = "";
        return false;
    }

    /// <summary>
    /// Lets go of everything at or below the index's watermark: traces a pass indexed from their packs (a pass that ran
    /// between the recorder's commit and its offer) are never asked for again.
    /// </summary>
    public void Forget(long indexedThrough)
    {
        lock (_lock)
        {
            if (_texts.Count == 0)
            {
                return;
            }

            List<long>? passed = null;
            foreach (var rowid in _texts.Keys)
            {
                if (rowid <= indexedThrough)
                {
                    (passed ??= []).Add(rowid);
                }
            }

            foreach (var rowid in passed ?? [])
            {
                _texts.Remove(rowid, out var gone);
                _chars -= gone.Text.Length;
            }
        }
    }
}
