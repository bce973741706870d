using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Keystone.Web.Tests.Hosting;

/// <summary>One HTTP/1.1 exchange on a raw socket, for requests no HTTP client library would send.</summary>
internal static class RawHttp
{
    /// <summary>The answer as Kestrel wrote it: status, headers (lower-case names) and body.</summary>
    public sealed record Answer(int Status, IReadOnlyDictionary<string, string> Headers, string Body)
    {
        public override string ToString() => $"{Status} {(Headers.TryGetValue("content-type", out var type) ? type : "(no type)")}: {Body[..Math.Min(Body.Length, 200)]}";
    }

    /// <summary>
    /// Sends <paramref name="request"/> (its bytes read as Latin-1, so any byte can be written) and reads until the
    /// server closes the connection; every request should say <c>Connection: close</c> unless the server closes anyway.
    /// </summary>
    public static async Task<Answer> SendAsync(int port, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // A reset after the answer was written: what arrived is the answer.
        }

        var text = Encoding.UTF8.GetString(received.ToArray());
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (split < 0)
        {
            throw new InvalidOperationException($"No HTTP answer to {request[..Math.Min(request.Length, 80)]}: '{text}'");
        }

        var lines = text[..split].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
        var body = text[(split + 4)..];
        if (headers.TryGetValue("transfer-encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Unchunk(body);
        }

        return new Answer(status, headers, body);
    }

    private static string Unchunk(string body)
    {
        var result = new StringBuilder();
        var at = 0;
        while (at < body.Length)
        {
            var end = body.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = Convert.ToInt32(body[at..end].Split(';')[0], 16);
            if (size == 0)
            {
                break;
            }

            result.Append(body, end + 2, size);
            at = end + 2 + size + 2;
        }

        return result.ToString();
    }
}
