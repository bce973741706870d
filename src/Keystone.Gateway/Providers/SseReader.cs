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
    private readonly StreamReader _reader = new(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 4096);
    private readonly StringBuilder _data = new();

    /// <summary>The next event, or null at the end of the stream.</summary>
    public async ValueTask<SseEvent?> ReadAsync(CancellationToken ct)
    {
        string? eventName = null;
        _data.Clear();
        var hasData = false;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        while (true)
        {
            idle.CancelAfter(idleTimeout);
            string? line;
            try
            {
                line = await _reader.ReadLineAsync(idle.Token);
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
                return hasData ? new SseEvent(eventName, _data.ToString()) : null;
            }

            if (line.Length == 0)
            {
                if (hasData)
                {
                    return new SseEvent(eventName, _data.ToString());
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
                if (hasData)
                {
                    _data.Append('\n');
                }

                _data.Append(value);
                hasData = true;
            }
        }
    }

    public void Dispose() => _reader.Dispose();
}
