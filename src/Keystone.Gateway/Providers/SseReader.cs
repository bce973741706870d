using System.Buffers;
using System.Text;

namespace Keystone.Gateway.Providers;

/// <summary>One server-sent event: its <c>event:</c> name (null when absent) and its joined <c>data:</c> lines.</summary>
internal readonly record struct SseEvent(string? Event, string Data);

/// <summary>
/// Reads server-sent events from a response stream by hand (the format is four line types), with an idle limit
/// between events. Read failures surface as <see cref="ProviderException"/> (retryable: the connection broke).
/// </summary>
/// <remarks>
/// Lines are split from UTF-8 bytes (CR, LF or CRLF ends a line; a leading byte order mark is skipped). Issue 26, memory
/// per open stream: a stream spends nearly all its life waiting for the provider's next words, so the reader holds no
/// buffer while it waits. It waits with a zero-byte read (SocketsHttpHandler's response streams complete one when bytes
/// arrive, without a buffer; a stream that completes it at once just leaves the waiting to the read after it), then
/// rents a 1 KB buffer from the shared pool for what arrived and returns it once every byte in it was read as lines.
/// Only a line cut between two reads keeps its buffer until the rest comes. The <c>StreamReader</c> it replaces held a
/// 1 KB byte buffer and a 1 KB char buffer (3 KB) per open stream, for the stream's whole life.
/// </remarks>
internal sealed class SseReader(Stream stream, string providerName, TimeSpan idleTimeout) : IDisposable
{
    // An event is a few hundred bytes; a longer line grows the buffer (doubling) while it is read.
    private const int BlockSize = 1024;

    private readonly StringBuilder _data = new();

    // One linked source per stream, its timer re-armed per line: a new source and timer per event cost more than parsing it.
    private CancellationTokenSource? _idle;

    // Bytes read but not yet taken as lines: _buffer[_start.._end). Null while none are held (the reader waits without one).
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private bool _bomChecked;
    private bool _skipLf;
    private bool _ended;

    /// <summary>Whether the reader holds a buffer now (tests: none between whole events).</summary>
    internal bool HoldsBuffer => _buffer is not null;

    /// <summary>The next event, or null at the end of the stream.</summary>
    public async ValueTask<SseEvent?> ReadAsync(CancellationToken ct)
    {
        string? eventName = null;
        string? single = null;
        _data.Clear();
        var hasData = false;
        _idle ??= CancellationTokenSource.CreateLinkedTokenSource(ct);
        while (true)
        {
            _idle.CancelAfter(idleTimeout);
            string? line;
            try
            {
                line = await ReadLineAsync(_idle.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new ProviderException($"{providerName}: the stream sent nothing for {idleTimeout.TotalSeconds:0} s.", null, isRetryable: true);
            }
            catch (IOException ex)
            {
                throw new ProviderException($"{providerName}: the stream broke ({ex.Message}).", null, isRetryable: true, inner: ex);
            }
            catch (HttpRequestException ex)
            {
                throw new ProviderException($"{providerName}: the stream broke ({ex.Message}).", null, isRetryable: true, inner: ex);
            }

            if (line is null)
            {
                return hasData ? new SseEvent(eventName, single ?? _data.ToString()) : null;
            }

            if (line.Length == 0)
            {
                if (hasData)
                {
                    return new SseEvent(eventName, single ?? _data.ToString());
                }

                eventName = null;
                continue;
            }

            if (line[0] == ':')
            {
                continue; // comment / keep-alive
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }

            if (field == "event")
            {
                eventName = value;
            }
            else if (field == "data")
            {
                // Nearly every event has one data line: keep it as is and only join when a second one arrives.
                if (!hasData)
                {
                    single = value;
                }
                else
                {
                    if (single is not null)
                    {
                        _data.Append(single);
                        single = null;
                    }

                    _data.Append('\n').Append(value);
                }

                hasData = true;
            }
        }
    }

    public void Dispose()
    {
        _idle?.Dispose();
        Release();
        stream.Dispose();
    }

    /// <summary>The next line without its end (CR, LF or CRLF), or null once the stream ended and every line was read.</summary>
    private async ValueTask<string?> ReadLineAsync(CancellationToken token)
    {
        while (true)
        {
            if (TryTakeLine() is { } line)
            {
                return line;
            }

            if (_ended)
            {
                // A last line the stream ended without ending, then nothing.
                var last = _end > _start ? Encoding.UTF8.GetString(_buffer.AsSpan(_start, _end - _start)) : null;
                Release();
                return last;
            }

            await FillAsync(token);
        }
    }

    private string? TryTakeLine()
    {
        if (_buffer is null)
        {
            return null;
        }

        var held = _buffer.AsSpan(_start, _end - _start);
        if (_skipLf && held.Length > 0)
        {
            // The previous line ended with the last byte of an earlier read, a CR: an LF right after it belongs to that line.
            _skipLf = false;
            if (held[0] == (byte)'\n')
            {
                _start++;
                held = held[1..];
            }
        }

        var end = held.IndexOfAny((byte)'\r', (byte)'\n');
        if (end < 0)
        {
            if (held.IsEmpty)
            {
                Release();
            }

            return null;
        }

        var line = Encoding.UTF8.GetString(held[..end]);
        var consumed = end + 1;
        if (held[end] == (byte)'\r')
        {
            if (end + 1 < held.Length)
            {
                consumed += held[end + 1] == (byte)'\n' ? 1 : 0;
            }
            else
            {
                _skipLf = true;
            }
        }

        _start += consumed;
        if (_start == _end)
        {
            // Everything read was taken: the buffer goes back before the next wait.
            Release();
        }

        return line;
    }

    private async ValueTask FillAsync(CancellationToken token)
    {
        if (_buffer is null)
        {
            // The zero-byte read only waits: its count is always 0 and means nothing (the read below tells the end).
            _ = await stream.ReadAsync(Memory<byte>.Empty, token);
            _buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
            _start = _end = 0;
        }
        else if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            // One line longer than the buffer: a larger one, the part read so far carried over.
            var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            _buffer.AsSpan(0, _end).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        var read = await stream.ReadAsync(_buffer.AsMemory(_end), token);
        if (read == 0)
        {
            _ended = true;
            return;
        }

        _end += read;
        if (!_bomChecked)
        {
            ReadOnlySpan<byte> bom = [0xEF, 0xBB, 0xBF];
            var head = _buffer.AsSpan(_start, _end - _start);
            if (head.Length >= bom.Length || !bom.StartsWith(head))
            {
                _bomChecked = true;
                if (head.StartsWith(bom))
                {
                    _start += bom.Length;
                }
            }
        }
    }

    private void Release()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            _start = _end = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
