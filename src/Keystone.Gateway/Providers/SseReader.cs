using System.Text;

namespace Keystone.Gateway.Providers;

/// <summary>One server-sent event: its <c>event:</c> name (null when absent) and its joined <c>data:</c> lines.</summary>
internal readonly record struct SseEvent(string? Event, string Data);

/// <summary>
/// Reads server-sent events from a response stream by hand (the format is four line types), with an idle limit
/// between events. Read failures surface as <see cref="ProviderException"/> (retryable: the connection broke).
/// </summary>
internal sealed class SseReader(Stream stream, string providerName, TimeSpan idleTimeout) : IDisposable
{
    // 1 KB: an event is a few hundred bytes, and a longer line is simply read in more pieces. The reader's buffers live
    // as long as the stream, once per open stream (4 KB took 12 KB of byte and char buffers; 1 KB takes 3 KB).
    private readonly StreamReader _reader = new(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 1024);
    private readonly StringBuilder _data = new();

    // One linked source per stream, its timer re-armed per line: a new source and timer per event cost more than parsing it.
    private CancellationTokenSource? _idle;

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
                line = await _reader.ReadLineAsync(_idle.Token);
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
        _reader.Dispose();
    }
}
