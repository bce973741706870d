using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Recording;

/// <summary>
/// Writes call rows and traces off the request path: callers enqueue into a bounded channel (waiting, never
/// dropping, when it is full), one writer drains it in batches. Stopping the host drains what is queued.
/// </summary>
internal sealed partial class CallRecorder : IRecordedCalls, IHostedService, IAsyncDisposable
{
    private readonly Channel<CallRecord> _channel;
    private readonly KeystoneDbFactory _dbFactory;
    private readonly ICallBatchWriter _batches;
    private readonly ITraceIndexer _index;
    private readonly GatewayOptions _options;
    private readonly ILogger<CallRecorder> _log;
    private readonly Task _writer;

    // Calls queued or being written, by (tenant, trace): lets a caller tell "recorded in a moment" from "unknown"
    // (feedback sent right after the answer). Bounded by the channel's capacity plus one batch.
    private readonly ConcurrentDictionary<(Guid TenantId, Guid TraceId), int> _pending = new();
    // The process-wide table the API's request parser shares through too: a text it swapped is found here by reference.
    private readonly RepeatedTexts _texts = SharedMessageTexts.Table;
    private long _enqueued;
    private long _written;
    private long _lost;
    private bool _stopping;

    public CallRecorder(KeystoneDbFactory dbFactory, ICallBatchWriter batches, ITraceIndexer index, IOptions<GatewayOptions> options, ILogger<CallRecorder> log)
    {
        _dbFactory = dbFactory;
        _batches = batches;
        _index = index;
        _options = options.Value;
        _log = log;
        _channel = Channel.CreateBounded<CallRecord>(new BoundedChannelOptions(_options.RecorderCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        // Started here rather than in StartAsync so the gateway records in any host (tests, benchmarks, jobs).
        // A dedicated thread, not a pool thread: SQLite's "async" calls run synchronously, and a batch insert holding
        // one of a small machine's few pool threads for tens of milliseconds stalls request handling (p99 spikes
        // under load) until the pool injects another thread.
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _writer = done.Task;
        using var started = new ManualResetEventSlim();
        new Thread(() =>
        {
            // Below the request threads: when both cores are busy, answering callers comes first and the writer
            // catches up from its queue (bounded: callers wait when it is full, so nothing is lost or unbounded).
            BackgroundThread.LowerPriority(WriterNice);
            started.Set();
            try
            {
                WriteLoop();
                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = WriterThreadName,
        }.Start();
        started.Wait();
    }

    /// <summary>The writer thread's name (as the OS shows it: at most 15 characters on Linux).</summary>
    internal const string WriterThreadName = "ks-recorder";

    /// <summary>How much nicer than the process the writer thread is on Linux (request threads run at the process's value).</summary>
    internal const int WriterNice = 5;

    /// <summary>Calls queued so far.</summary>
    public long Enqueued => Interlocked.Read(ref _enqueued);

    /// <summary>Calls stored so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Calls that could not be stored after retries (logged as errors).</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <inheritdoc />
    public bool IsPending(Guid tenantId, Guid traceId) => _pending.ContainsKey((tenantId, traceId));

    public ValueTask EnqueueAsync(CallRecord record)
    {
        // A long text the queue already holds (the system prompt) is kept once, not once per queued call (decision 0057).
        if (record.Request is { } request && _texts.Share(request) is var shared && !ReferenceEquals(shared, request))
        {
            record = record with { Request = shared };
        }

        Interlocked.Increment(ref _enqueued);
        _pending.AddOrUpdate((record.Call.TenantId, record.Call.TraceId), 1, (_, n) => n + 1);
        // Not the caller's token: a cancelled call is still recorded.
        return _channel.Writer.WriteAsync(record, CancellationToken.None);
    }

    /// <summary>Waits until everything queued before the call is stored and searchable (tests, demo seeds).</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        var target = Enqueued;
        while (Written + Lost < target && !_writer.IsCompleted)
        {
            await Task.Delay(5, ct);
        }

        await _index.CatchUpAsync(ct);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Stops taking calls and waits for the queue to drain (the host's shutdown timeout bounds the wait).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Volatile.Write(ref _stopping, true);
        _channel.Writer.TryComplete();
        await _writer.WaitAsync(cancellationToken);
        LogDrained(_log, Written, Lost);
    }

    public async ValueTask DisposeAsync()
    {
        Volatile.Write(ref _stopping, true);
        _channel.Writer.TryComplete();
        await _writer;
    }

    private void WriteLoop()
    {
        var batch = new List<CallRecord>(_options.RecorderBatchSize);
        var reader = _channel.Reader;
        var linger = _options.RecorderLinger;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            Drain(reader, batch);
            // Not full: give the callers a moment to fill it, so one commit carries many calls. Stopping (the
            // channel completed) skips the wait: what is queued is written at once.
            if (batch.Count < _options.RecorderBatchSize && linger > TimeSpan.Zero && !Volatile.Read(ref _stopping))
            {
                Thread.Sleep(linger);
                Drain(reader, batch);
            }

            WriteBatch(batch);
            batch.Clear();
        }
    }

    private void Drain(ChannelReader<CallRecord> reader, List<CallRecord> batch)
    {
        while (batch.Count < _options.RecorderBatchSize && reader.TryRead(out var r))
        {
            batch.Add(r);
        }
    }

    /// <summary>
    /// Writes one batch. Every call in it was answered (or refused) already, so a database that refuses is waited out:
    /// retried with backoff (200 ms doubling to 5 s) for <see cref="GatewayOptions.RecorderRetryWindow"/>, while new calls
    /// queue behind it. Then each call is tried on its own, so one row the database will never take (a poison row)
    /// costs only itself.
    /// </summary>
    private void WriteBatch(List<CallRecord> batch)
    {
        var calls = batch.Select(b => b.Call).ToList();
        var searchText = _index.NeedsSearchText;
        var indexerText = !searchText && _index.TakesSearchText;
        var rows = batch.Select(b => ToTrace(b, searchText, indexerText)).ToList();
        var started = Environment.TickCount64;
        var backoff = TimeSpan.FromMilliseconds(200);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                Write(calls, rows);
                Interlocked.Add(ref _written, batch.Count);
                Settle(batch);
                _index.Written();
                return;
            }
            catch (Exception ex) when (TimeSpan.FromMilliseconds(Environment.TickCount64 - started) + backoff <= _options.RecorderRetryWindow)
            {
                LogRetry(_log, ex, batch.Count, attempt);
                Thread.Sleep(backoff);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
            catch (Exception ex)
            {
                LogRetry(_log, ex, batch.Count, attempt);
                break;
            }
        }

        for (var i = 0; i < batch.Count; i++)
        {
            try
            {
                Write([calls[i]], [rows[i]]);
                Interlocked.Increment(ref _written);
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _lost);
                LogLost(_log, ex, 1);
            }
        }

        Settle(batch);
        _index.Written();
    }

    private void Write(List<LlmCall> calls, List<LlmTrace> rows)
    {
        // The recorder writes for every tenant; each row names its own tenant (RLS allows the system scope).
        using var db = _dbFactory.ForSystem();
        _batches.Write(db, calls, rows);
    }

    private void Settle(List<CallRecord> batch)
    {
        foreach (var record in batch)
        {
            var key = (record.Call.TenantId, record.Call.TraceId);
            while (_pending.TryGetValue(key, out var n)
                && !(n <= 1 ? _pending.TryRemove(new KeyValuePair<(Guid, Guid), int>(key, n)) : _pending.TryUpdate(key, n - 1, n)))
            {
                // Another call of the same trace changed the count meanwhile: read it again.
            }
        }
    }

    internal static LlmTrace ToTrace(CallRecord r) => ToTrace(r, searchText: true);

    /// <summary>
    /// The trace row of a call: request and answer serialized and redacted. The search text where the database indexes it
    /// on write (<paramref name="searchText"/>, PostgreSQL), or where the batch writer hands it to SQLite's background
    /// indexer (<paramref name="indexerText"/>, decision 0071): then it is the text the indexer would derive from the
    /// stored payloads, which it derives itself when it is not handed over.
    /// </summary>
    internal static LlmTrace ToTrace(CallRecord r, bool searchText, bool indexerText = false)
    {
        var rawRequest = r.Request is null ? null : JsonSerializer.Serialize(r.Request, Json);
        var rawResponse = r.Answer is null ? null : JsonSerializer.Serialize(r.Answer, Json);
        var (request, c1) = Redactor.RedactJson(rawRequest);
        var (response, c2) = Redactor.RedactJson(rawResponse);
        var search = searchText ? TraceSearchText.Build(r.Request?.Messages, r.Answer?.Text, r.Answer is not null)
            : indexerText ? TraceSearchText.ForIndexer(r.Request?.Messages, r.Answer?.Text, r.Answer is not null,
                rawRequest is null ? null : request, rawResponse is null ? null : response, c1 + c2)
            : null;
        return new LlmTrace
        {
            CallId = r.Call.Id,
            TenantId = r.Call.TenantId,
            RequestJson = rawRequest is null ? null : request,
            ResponseJson = rawResponse is null ? null : response,
            // The raw copy is kept only where redaction changed something: otherwise it would be the redacted
            // text a second time (on SQLite a third of the trace row's write cost, and twice the storage).
            RawRequestJson = c1 > 0 ? rawRequest : null,
            RawResponseJson = c2 > 0 ? rawResponse : null,
            AttemptsJson = JsonSerializer.Serialize(r.Attempts, Json),
            SearchText = search,
            RedactionCount = c1 + c2,
            CreatedUtc = r.Call.CreatedUtc,
        };
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [LoggerMessage(EventId = 3200, Level = LogLevel.Warning, Message = "Recording {Count} calls failed (attempt {Attempt}); retrying")]
    private static partial void LogRetry(ILogger log, Exception ex, int count, int attempt);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Error, Message = "Recording {Count} calls failed; they are lost")]
    private static partial void LogLost(ILogger log, Exception ex, int count);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Information, Message = "Call recorder drained: {Written} written, {Lost} lost")]
    private static partial void LogDrained(ILogger log, long written, long lost);
}
