using Keystone.Data;
using Microsoft.Extensions.Logging;

namespace Keystone.Gateway.Recording;

/// <summary>
/// SQLite's full-text indexing of recorded traces, off the recorder's write path (issue 26): full-text indexing was
/// the largest part of the recorder's CPU per call (about 70 µs of ~160 with realistic text), and it needs nothing
/// the recorder has that the stored trace lacks. A thread of its own, below the recorder in priority, indexes what the
/// recorder committed a moment after each batch (so a call is searchable within about a second), in passes of up to
/// <see cref="PassSize"/> traces (fewer, larger FTS5 segments: less merging per trace). Progress is the watermark in the
/// database (<see cref="SqliteTraceIndex"/>), so a restart resumes where the last pass committed.
/// </summary>
internal sealed partial class SqliteTraceIndexer : ITraceIndexer, IDisposable
{
    /// <summary>Traces per pass (one transaction; the write lock is held about 0.1 s per thousand traces).</summary>
    internal const int PassSize = 2_000;

    /// <summary>After the recorder's signal, wait this long for more batches so a pass covers several of them.</summary>
    internal static readonly TimeSpan Gather = TimeSpan.FromMilliseconds(250);

    /// <summary>With no signal (traces written by another process, a failed pass), look again after this long.</summary>
    internal static readonly TimeSpan Poll = TimeSpan.FromSeconds(5);

    /// <summary>The indexer thread's name (at most 15 characters on Linux).</summary>
    internal const string ThreadName = "ks-trace-index";

    /// <summary>How much nicer than the process the indexer is: below the request threads and the recorder (5).</summary>
    internal const int Nice = 10;

    private readonly KeystoneDbFactory _dbFactory;
    private readonly ILogger<SqliteTraceIndexer> _log;
    private readonly SearchTextHandoff? _handoff;
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _thread;
    private long _indexedThrough = -1;
    private volatile bool _hurry;
    private volatile bool _stopping;
    private long _failingSince = -1;
    private bool _succeeded;

    /// <param name="dbFactory">The database.</param>
    /// <param name="log">Where failed passes are logged.</param>
    /// <param name="handoff">The recorder's search texts of what it just wrote (decision 0071); without it every trace's text
    /// is derived from its stored payloads.</param>
    public SqliteTraceIndexer(KeystoneDbFactory dbFactory, ILogger<SqliteTraceIndexer> log, SearchTextHandoff? handoff = null)
    {
        _dbFactory = dbFactory;
        _log = log;
        _handoff = handoff;
        // Started with the recorder (which is created when the host starts): traces left unindexed by the last process
        // are indexed without waiting for a new call, once the database is ready (see Run).
        _thread = new Thread(Run) { IsBackground = true, Name = ThreadName };
        _thread.Start();
    }

    public bool NeedsSearchText => false;

    /// <summary>While the hand-off has room: past its cap the text would be dropped, so the recorder need not derive it.</summary>
    public bool TakesSearchText => _handoff is { IsFull: false };

    /// <summary>The watermark as of the last pass (-1 before the first).</summary>
    internal long IndexedThrough => Interlocked.Read(ref _indexedThrough);

    public void Written()
    {
        if (!_stopping)
        {
            _wake.Set();
        }
    }

    public async Task CatchUpAsync(CancellationToken ct)
    {
        await using var db = _dbFactory.ForSystem();
        var target = SqliteTraceIndex.NewestTrace(db);
        // The watermark as stored, not this thread's last view of it: an insert that reused a rowid moved it back.
        while (SqliteTraceIndex.Watermark(db) < target && !_stopping)
        {
            var since = Interlocked.Read(ref _failingSince);
            if (since >= 0 && Environment.TickCount64 - since > FailingFor.TotalMilliseconds)
            {
                throw new InvalidOperationException("The trace search indexer has been failing for a while (see its logged errors); traces are stored but not yet searchable.");
            }

            _hurry = true;
            _wake.Set();
            await Task.Delay(5, ct);
        }
    }

    private void Run()
    {
        BackgroundThread.LowerPriority(Nice);
        // The host creates its services (the recorder, and with it this indexer) before its start-up work migrates the
        // database: the first pass waits for a signal (a committed batch, a flush) or one poll interval.
        _wake.WaitOne(Poll);
        while (!_stopping)
        {
            try
            {
                long previous;
                long through;
                do
                {
                    previous = IndexedThrough;
                    using var db = _dbFactory.ForSystem();
                    (through, _) = SqliteTraceIndex.IndexPending(db, PassSize, _handoff);
                    Interlocked.Exchange(ref _indexedThrough, through);
                    // What the pass went past is never asked for again (a text offered after a pass reached its trace).
                    _handoff?.Forget(through);
                }
                while (through != previous && !_stopping);

                Interlocked.Exchange(ref _failingSince, -1);
                _succeeded = true;
            }
            catch (Exception ex)
            {
                // The database refused (locked past the busy timeout, disk full, the host stopping under it): the traces
                // stay past the watermark and the next pass (or the next process) tries again. Never rethrown: an
                // exception on this thread would end the process.
                if (!_stopping)
                {
                    Interlocked.CompareExchange(ref _failingSince, Environment.TickCount64, -1);
                    if (_succeeded)
                    {
                        LogFailed(_log, ex);
                    }
                    else
                    {
                        // Before the first pass went through, most likely the database is not migrated yet.
                        LogNotReady(_log, ex.Message);
                    }
                }
            }

            if (Interlocked.Read(ref _failingSince) >= 0)
            {
                // Not again at once, even when a flush keeps signalling.
                Thread.Sleep(TimeSpan.FromSeconds(1));
            }

            _wake.WaitOne(Poll);
            // More batches are likely on their way: one pass for several commits (a flush that waits cuts it short).
            var gathered = Environment.TickCount64 + (long)Gather.TotalMilliseconds;
            while (!_hurry && !_stopping && Environment.TickCount64 < gathered)
            {
                Thread.Sleep(10);
            }

            _hurry = false;
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _wake.Set();
        // A pass in progress finishes (it is one transaction); traces it does not reach are indexed by the next process.
        if (_thread.Join(TimeSpan.FromSeconds(10)))
        {
            // Only once the thread is gone: it waits on the handle.
            _wake.Dispose();
        }
    }

    /// <summary>How long the indexer may fail before a caller waiting for it (a flush) gets an exception.</summary>
    private static readonly TimeSpan FailingFor = TimeSpan.FromSeconds(30);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Error, Message = "Indexing recorded traces for search failed; retrying")]
    private static partial void LogFailed(ILogger log, Exception ex);

    [LoggerMessage(EventId = 3204, Level = LogLevel.Debug, Message = "Trace search indexing not ready yet ({Reason}); retrying")]
    private static partial void LogNotReady(ILogger log, string reason);
}
