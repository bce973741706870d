using System.Text;
using Keystone.Gateway.Providers;

namespace Keystone.Gateway.Tests.Providers;

/// <summary>
/// The SSE reader splits lines from UTF-8 bytes itself (issue 26, memory per open stream: no buffer held while it waits).
/// Bytes arrive in whatever pieces the network gives: every split of a line, its end or a character must read the same.
/// </summary>
public sealed class SseReaderTests
{
    [Fact]
    public async Task Read_AnyWayTheBytesAreCut_GivesTheSameEvents()
    {
        var longData = string.Concat(Enumerable.Repeat("Grüße 😀 \"x\" ", 200)); // > 1 KB of UTF-8: the buffer grows
        var text = "\uFEFF: keep-alive\r\n"
            + "event: message_start\r\ndata: {\"a\":\"é\"}\r\n\r\n"
            + "data: first\rdata: second\r\rdata: " + longData + "\n\n"
            + "id: 7\nretry: 10\ndata:no space\n\n"
            + "data: last without its end";
        var bytes = Encoding.UTF8.GetBytes(text);

        SseEvent[] expected =
        [
            new("message_start", "{\"a\":\"é\"}"),
            new(null, "first\nsecond"),
            new(null, longData),
            new(null, "no space"),
            new(null, "last without its end"),
        ];
        var whole = await ReadAllAsync([bytes]);
        Assert.Equal(expected, whole);

        // One byte at a time (CRLF, the BOM and every multi-byte character cut), and pieces of 2, 3, 7 and 1,000 bytes.
        foreach (var size in new[] { 1, 2, 3, 7, 1000 })
        {
            Assert.Equal(whole, await ReadAllAsync(Pieces(bytes, size)));
        }
    }

    [Fact]
    public async Task Read_BetweenWholeEvents_HoldsNoBuffer_AndAPartLineKeepsOneUntilItsRestArrives()
    {
        var gate = new GatedStream();
        using var reader = new SseReader(gate, "test", TimeSpan.FromSeconds(30));

        gate.Push("data: one\n\ndata: tw"u8.ToArray());
        Assert.Equal(new SseEvent(null, "one"), await reader.ReadAsync(CancellationToken.None));
        // "data: tw" is held, waiting for the rest of its line.
        var next = reader.ReadAsync(CancellationToken.None).AsTask();
        await gate.WaitingAsync();
        Assert.True(reader.HoldsBuffer);

        gate.Push("o\n\n"u8.ToArray());
        Assert.Equal(new SseEvent(null, "two"), await next);
        var third = reader.ReadAsync(CancellationToken.None).AsTask();
        await gate.WaitingAsync();
        // Everything read was taken as lines: the reader waits for the provider without a buffer.
        Assert.False(reader.HoldsBuffer);

        gate.End();
        Assert.Null(await third);
    }

    private static async Task<List<SseEvent>> ReadAllAsync(IEnumerable<byte[]> pieces)
    {
        using var reader = new SseReader(new PieceStream(pieces), "test", TimeSpan.FromSeconds(30));
        var events = new List<SseEvent>();
        while (await reader.ReadAsync(CancellationToken.None) is { } e)
        {
            events.Add(e);
        }

        return events;
    }

    private static IEnumerable<byte[]> Pieces(byte[] bytes, int size)
    {
        for (var i = 0; i < bytes.Length; i += size)
        {
            yield return bytes[i..Math.Min(bytes.Length, i + size)];
        }
    }

    /// <summary>A stream that gives one piece per read (a zero-byte read completes at once), then the end.</summary>
    private sealed class PieceStream(IEnumerable<byte[]> pieces) : AsyncReadOnlyStream
    {
        private readonly Queue<byte[]> _pieces = new(pieces);
        private byte[] _current = [];
        private int _offset;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty)
            {
                return ValueTask.FromResult(0);
            }

            if (_offset == _current.Length)
            {
                if (!_pieces.TryDequeue(out var next))
                {
                    return ValueTask.FromResult(0);
                }

                _current = next;
                _offset = 0;
            }

            var n = Math.Min(buffer.Length, _current.Length - _offset);
            _current.AsSpan(_offset, n).CopyTo(buffer.Span);
            _offset += n;
            return ValueTask.FromResult(n);
        }
    }

    /// <summary>A stream whose reads wait for pushed bytes, zero-byte reads included (as SocketsHttpHandler's response streams do).</summary>
    private sealed class GatedStream : AsyncReadOnlyStream
    {
        private readonly Lock _lock = new();
        private readonly Queue<byte> _bytes = new();
        private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource? _waitSignal;
        private bool _isWaiting;
        private bool _ended;

        public void Push(byte[] bytes)
        {
            lock (_lock)
            {
                foreach (var b in bytes)
                {
                    _bytes.Enqueue(b);
                }

                _arrived.TrySetResult();
            }
        }

        public void End()
        {
            lock (_lock)
            {
                _ended = true;
                _arrived.TrySetResult();
            }
        }

        /// <summary>Completes once a read waits for bytes (at once when one is waiting now).</summary>
        public Task WaitingAsync()
        {
            lock (_lock)
            {
                if (_isWaiting)
                {
                    return Task.CompletedTask;
                }

                _waitSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return _waitSignal.Task;
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Task arrived;
                lock (_lock)
                {
                    if (_bytes.Count > 0 || _ended)
                    {
                        _isWaiting = false;
                        var n = 0;
                        while (n < buffer.Length && _bytes.TryDequeue(out var b))
                        {
                            buffer.Span[n++] = b;
                        }

                        return n;
                    }

                    if (_arrived.Task.IsCompleted)
                    {
                        _arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }

                    arrived = _arrived.Task;
                    _isWaiting = true;
                    _waitSignal?.TrySetResult();
                    _waitSignal = null;
                }

                await arrived.WaitAsync(cancellationToken);
            }
        }
    }

    /// <summary>A stream the reader reads asynchronously only: everything else is refused.</summary>
    private abstract class AsyncReadOnlyStream : Stream
    {
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
