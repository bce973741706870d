using System.Text;
using Keystone.Gateway;
using Keystone.Web.Features.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// The stream writer's flush policy (issue 26, time to first token): what is ready goes out in one write, and nothing
/// waits in the buffer while the gateway waits for the provider. Seen at the response body: each flush that carries
/// bytes is one write to the caller.
/// </summary>
public sealed class ChatStreamWriterTests
{
    [Fact]
    public async Task Stream_StartAndFirstTokenLeaveInOneWrite_AndEachTokenIsSentBeforeWaitingForTheNext()
    {
        var provider = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var body = new FlushRecordingStream();
        var http = new DefaultHttpContext();
        http.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(body));
        var writer = new ChatStreamWriter(http, TimeProvider.System, TimeSpan.FromMinutes(5));

        var writing = writer.WriteAsync(Events(provider.Task), "fast", includeUsage: false, CancellationToken.None);

        // The gateway now waits for the provider's next piece: the start and the first token are with the caller, in one write.
        var first = await body.WriteNumberAsync(1);
        Assert.Contains("\"role\":\"assistant\"", first, StringComparison.Ordinal);
        Assert.Contains("\"content\":\"Hello\"", first, StringComparison.Ordinal);
        Assert.DoesNotContain("world", first, StringComparison.Ordinal);
        Assert.False(writing.IsCompleted);
        Assert.Equal(200, http.Response.StatusCode);
        Assert.Equal("text/event-stream; charset=utf-8", http.Response.ContentType);

        provider.SetResult();
        await writing;

        // The rest was ready at once (the last token, the finish chunk, [DONE]): one more write.
        Assert.Equal(2, body.Writes.Count);
        var second = body.Writes[1];
        Assert.Contains("\"content\":\" world\"", second, StringComparison.Ordinal);
        Assert.Contains("\"finish_reason\":\"stop\"", second, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", second, StringComparison.Ordinal);
        // Every event is still its own SSE event.
        Assert.Equal(4, string.Concat(body.Writes).Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Count(e => e.StartsWith("data: {", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Stream_ProviderSentEverythingAtOnce_TheFirstTokenLeavesBeforeTheRestIsWritten()
    {
        // An instant upstream: every event is ready at once. The first token must not wait for the burst behind it.
        var body = new FlushRecordingStream();
        var http = new DefaultHttpContext();
        http.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(body));
        var writer = new ChatStreamWriter(http, TimeProvider.System, TimeSpan.FromMinutes(5));

        await writer.WriteAsync(Events(Task.CompletedTask), "fast", includeUsage: false, CancellationToken.None);

        Assert.Equal(2, body.Writes.Count);
        Assert.Contains("\"role\":\"assistant\"", body.Writes[0], StringComparison.Ordinal);
        Assert.Contains("\"content\":\"Hello\"", body.Writes[0], StringComparison.Ordinal);
        Assert.DoesNotContain("world", body.Writes[0], StringComparison.Ordinal);
        // The rest of the burst is coalesced into one write.
        Assert.Contains("\"content\":\" world\"", body.Writes[1], StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", body.Writes[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_TheHeadersLeaveWithTheFirstToken_NotInAWriteOfTheirOwn()
    {
        // Kestrel's StartAsync sends the status and headers at once, on their own: the first token then took a second send
        // and the caller a second receive (issue 26, the stage profile). The writer leaves the start to its first write.
        var provider = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var body = new FlushRecordingStream();
        var feature = new StartCountingBodyFeature(body);
        var http = new DefaultHttpContext();
        http.Features.Set<IHttpResponseBodyFeature>(feature);
        var writer = new ChatStreamWriter(http, TimeProvider.System, TimeSpan.FromMinutes(5));

        var writing = writer.WriteAsync(Events(provider.Task), "fast", includeUsage: false, CancellationToken.None);

        var first = await body.WriteNumberAsync(1);
        Assert.Equal(0, feature.Starts);
        Assert.Contains("\"content\":\"Hello\"", first, StringComparison.Ordinal);
        // The headers were set before that write, so they are the ones that leave with it.
        Assert.Equal(200, http.Response.StatusCode);
        Assert.Equal("text/event-stream; charset=utf-8", http.Response.ContentType);
        Assert.Equal("no-cache", http.Response.Headers.CacheControl.ToString());
        Assert.Equal("sim", http.Response.Headers["X-Keystone-Provider"].ToString());
        Assert.False(string.IsNullOrEmpty(http.Response.Headers["X-Keystone-Trace-Id"].ToString()));

        provider.SetResult();
        await writing;
        Assert.Equal(0, feature.Starts);
        Assert.EndsWith("data: [DONE]\n\n", body.Writes[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_SlowFirstEvent_TheKeepAliveStillCarriesTheHeadersAndTheTokensFollow()
    {
        // No start of its own on the keep-alive path either: the comment is the first write, with the status and the trace id.
        var provider = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var body = new FlushRecordingStream();
        var feature = new StartCountingBodyFeature(body);
        var http = new DefaultHttpContext();
        http.Features.Set<IHttpResponseBodyFeature>(feature);
        var writer = new ChatStreamWriter(http, TimeProvider.System, TimeSpan.FromMilliseconds(20));

        var writing = writer.WriteAsync(Late(provider.Task), "fast", includeUsage: false, CancellationToken.None);

        var keepAlive = await body.WriteNumberAsync(1);
        Assert.Equal(": keep-alive\n\n", keepAlive);
        Assert.Equal(200, http.Response.StatusCode);
        Assert.Equal("text/event-stream; charset=utf-8", http.Response.ContentType);
        provider.SetResult();
        await writing;
        Assert.Equal(0, feature.Starts);
        var all = string.Concat(body.Writes);
        Assert.Contains("\"content\":\"Hello\"", all, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", all, StringComparison.Ordinal);

        static async IAsyncEnumerable<ChatStreamEvent> Late(Task first)
        {
            await first;
            await foreach (var e in Events(Task.CompletedTask))
            {
                yield return e;
            }
        }
    }

    [Fact]
    public async Task Stream_EventsGoIntoThePipe_WithoutAskingItForMoreThanOnePoolBlock()
    {
        // Issue 26, memory per open stream: a JSON writer on the response pipe asked it for 4,096 bytes at a time, more than
        // Kestrel's 4 KB pool block holds once its chunk framing is added, so each stream took (and its connection kept) an
        // 8 KB array. The events are now copied in: the pipe is never asked for a size.
        var pipe = new HintRecordingPipeWriter();
        var http = new DefaultHttpContext();
        http.Features.Set<IHttpResponseBodyFeature>(new PipeBodyFeature(pipe));
        var writer = new ChatStreamWriter(http, TimeProvider.System, TimeSpan.FromMinutes(5));

        await writer.WriteAsync(Events(Task.CompletedTask), "fast", includeUsage: true, CancellationToken.None);

        Assert.Equal(0, pipe.LargestHint);
        var events = Encoding.UTF8.GetString(pipe.Written.ToArray()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => System.Text.Json.JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.Equal(5, chunks.Count); // role, two tokens, finish, usage
        Assert.Equal("Hello world", string.Concat(chunks.Take(3).Select(c => c.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString())));
        Assert.Equal(5, chunks[^1].GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Stream_AnEventLargerThanTheKeptScratchBuffer_IsWrittenWhole_AndLaterStreamsStillAre()
    {
        // A long answer replayed in one chunk grows the thread's scratch buffer past what a thread keeps; that event is still
        // written whole, and the events after it (a fresh buffer) too.
        var longText = string.Concat(Enumerable.Repeat("Grüße \"quoted\" <b> 😀 line\n", ChunkScratch.MaxKeptBytes / 10));
        for (var round = 0; round < 2; round++)
        {
            var body = new FlushRecordingStream();
            var http = new DefaultHttpContext();
            http.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(body));
            var writer = new ChatStreamWriter(http, TimeProvider.System, TimeSpan.FromMinutes(5));

            await writer.WriteAsync(Answer(longText), "fast", includeUsage: false, CancellationToken.None);

            var events = string.Concat(body.Writes).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("data: [DONE]", events[^1]);
            var contents = events[..^1].Select(e => System.Text.Json.JsonDocument.Parse(e["data: ".Length..]).RootElement)
                .Select(c => c.GetProperty("choices")[0].GetProperty("delta"))
                .Where(d => d.TryGetProperty("content", out _)).Select(d => d.GetProperty("content").GetString());
            Assert.Equal(longText + "tail", string.Concat(contents));
        }

        static async IAsyncEnumerable<ChatStreamEvent> Answer(string text)
        {
            await Task.Yield();
            var callId = Guid.NewGuid();
            var traceId = Guid.NewGuid();
            yield return new StreamStarted(callId, traceId, "sim", "sim-fast");
            yield return new TextDelta(text);
            yield return new TextDelta("tail");
            yield return new StreamCompleted(new ChatResult(text + "tail", [], "stop", new Keystone.Gateway.Usage(3, 2),
                new CallOutcome { CallId = callId, TraceId = traceId, Provider = "sim", Model = "sim-fast" }));
        }
    }

    private static async IAsyncEnumerable<ChatStreamEvent> Events(Task nextPiece)
    {
        var callId = Guid.NewGuid();
        var traceId = Guid.NewGuid();
        yield return new StreamStarted(callId, traceId, "sim", "sim-fast");
        yield return new TextDelta("Hello");
        await nextPiece;
        yield return new TextDelta(" world");
        yield return new StreamCompleted(new ChatResult("Hello world", [], "stop", new Keystone.Gateway.Usage(3, 2),
            new CallOutcome { CallId = callId, TraceId = traceId, Provider = "sim", Model = "sim-fast" }));
    }

    /// <summary>A response body feature whose writer is the given pipe writer.</summary>
    private sealed class PipeBodyFeature(System.IO.Pipelines.PipeWriter writer) : IHttpResponseBodyFeature
    {
        public Stream Stream => writer.AsStream();

        public System.IO.Pipelines.PipeWriter Writer => writer;

        public void DisableBuffering()
        {
        }

        public Task StartAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task CompleteAsync() => Task.CompletedTask;
    }

    /// <summary>A pipe writer that keeps what was written and the largest size it was asked for (GetMemory / GetSpan).</summary>
    private sealed class HintRecordingPipeWriter : System.IO.Pipelines.PipeWriter
    {
        // Small blocks, as a pipe hands out the rest of its current block: a writer asking for no size gets what is there.
        private byte[] _block = new byte[64];
        private int _used;

        public MemoryStream Written { get; } = new();

        public int LargestHint { get; private set; }

        public override void Advance(int bytes)
        {
            Written.Write(_block, _used, bytes);
            _used += bytes;
        }

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            LargestHint = Math.Max(LargestHint, sizeHint);
            if (_used == _block.Length || sizeHint > _block.Length - _used)
            {
                _block = new byte[Math.Max(64, sizeHint)];
                _used = 0;
            }

            return _block.AsMemory(_used);
        }

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void CancelPendingFlush()
        {
        }

        public override void Complete(Exception? exception = null)
        {
        }

        public override ValueTask<System.IO.Pipelines.FlushResult> FlushAsync(CancellationToken cancellationToken = default)
            => ValueTask.FromResult(new System.IO.Pipelines.FlushResult(isCanceled: false, isCompleted: false));
    }

    /// <summary>A response body feature that counts explicit starts (on Kestrel, a send of the headers on their own).</summary>
    private sealed class StartCountingBodyFeature(Stream body) : IHttpResponseBodyFeature
    {
        private readonly StreamResponseBodyFeature _inner = new(body);

        public int Starts { get; private set; }

        public Stream Stream => _inner.Stream;

        public System.IO.Pipelines.PipeWriter Writer => _inner.Writer;

        public void DisableBuffering() => _inner.DisableBuffering();

        public Task StartAsync(CancellationToken cancellationToken = default)
        {
            Starts++;
            return _inner.StartAsync(cancellationToken);
        }

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
            => _inner.SendFileAsync(path, offset, count, cancellationToken);

        public Task CompleteAsync() => _inner.CompleteAsync();
    }

    /// <summary>A response body that keeps, per flush, the bytes written since the previous one (flushes with none are not writes).</summary>
    private sealed class FlushRecordingStream : Stream
    {
        private readonly MemoryStream _pending = new();
        private readonly List<TaskCompletionSource<string>> _waiters = [];

        public List<string> Writes { get; } = [];

        /// <summary>The <paramref name="n"/>th write (1-based), once it happened.</summary>
        public Task<string> WriteNumberAsync(int n)
        {
            lock (Writes)
            {
                if (Writes.Count >= n)
                {
                    return Task.FromResult(Writes[n - 1]);
                }

                while (_waiters.Count < n)
                {
                    _waiters.Add(new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));
                }

                return _waiters[n - 1].Task;
            }
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flush();
            return Task.CompletedTask;
        }

        public override void Flush()
        {
            lock (Writes)
            {
                if (_pending.Length == 0)
                {
                    return;
                }

                Writes.Add(Encoding.UTF8.GetString(_pending.ToArray()));
                _pending.SetLength(0);
                if (_waiters.Count >= Writes.Count)
                {
                    _waiters[Writes.Count - 1].TrySetResult(Writes[^1]);
                }
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (Writes)
            {
                _pending.Write(buffer, offset, count);
            }
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            lock (Writes)
            {
                _pending.Write(buffer.Span);
            }

            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer, offset, count);
            return Task.CompletedTask;
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
