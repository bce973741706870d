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
