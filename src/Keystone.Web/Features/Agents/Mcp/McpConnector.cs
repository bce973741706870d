using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Keystone.Web.Features.Agents.Mcp;

/// <summary>Why a server could not be used: <c>down</c> (no answer) or <c>invalid</c> (an answer that is not usable MCP).</summary>
internal sealed class McpServerException(string state, string message, Exception? inner = null) : Exception(message, inner)
{
    public const string Down = "down";
    public const string Invalid = "invalid";

    public string State { get; } = state;
}

/// <summary>A tool as a server listed it.</summary>
internal sealed record McpListedTool(string Name, string? Description, JsonElement InputSchema, bool ReadOnly);

/// <summary>What one tool call answered: its text (or structured content) and whether the server flagged it an error.</summary>
internal sealed record McpCallResult(string Text, bool IsError);

/// <summary>
/// Talks to MCP servers over the Streamable HTTP transport with the <c>ModelContextProtocol</c> client: a session per
/// operation (initialize, then list or call), through one <see cref="HttpClient"/> whose connect step refuses
/// non-public addresses (unless allowed), follows no redirects and uses no proxy. The library logs nothing here, so the
/// authorization header can never reach a log. Singleton.
/// </summary>
internal sealed class McpConnector : IDisposable
{
    private readonly HttpClient _http;
    private readonly IOptions<McpOptions> _options;

    public McpConnector(IOptions<McpOptions> options)
    {
        _options = options;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            ConnectCallback = ConnectAsync,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(options.Value.TimeoutSeconds),
        };
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(options.Value.TimeoutSeconds) };
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Every tool the server lists (following its pages, up to a limit).</summary>
    public async Task<IReadOnlyList<McpListedTool>> ListToolsAsync(Uri endpoint, string? authorization, CancellationToken ct)
        => await WithClientAsync(endpoint, authorization, async client =>
        {
            var tools = new List<McpListedTool>();
            string? cursor = null;
            for (var page = 0; page < 20; page++)
            {
                var result = await client.ListToolsAsync(new ListToolsRequestParams { Cursor = cursor }, ct);
                tools.AddRange((result.Tools ?? []).Select(t => new McpListedTool(t.Name, t.Description, t.InputSchema.Clone(),
                    t.Annotations?.ReadOnlyHint == true && t.Annotations?.DestructiveHint != true)));
                cursor = result.NextCursor;
                if (cursor is null || tools.Count > 2 * _options.Value.MaxToolsPerServer)
                {
                    break;
                }
            }

            return (IReadOnlyList<McpListedTool>)tools;
        }, ct);

    /// <summary>Calls one tool. The idempotency key travels in <c>_meta</c> for servers that honour it.</summary>
    public async Task<McpCallResult> CallToolAsync(Uri endpoint, string? authorization, string tool, JsonElement input, string idempotencyKey, CancellationToken ct)
        => await WithClientAsync(endpoint, authorization, async client =>
        {
            var arguments = input.ValueKind == JsonValueKind.Object
                ? input.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal)
                : [];
            var result = await client.CallToolAsync(new CallToolRequestParams
            {
                Name = tool,
                Arguments = arguments,
                Meta = new JsonObject { ["io.keystone/idempotency-key"] = idempotencyKey },
            }, ct);
            var text = string.Join("\n", (result.Content ?? []).Select(c => c is TextContentBlock t ? t.Text : $"[{c.Type} content]"));
            if (result.StructuredContent is { } structured && string.IsNullOrEmpty(text))
            {
                text = structured.ToString();
            }

            return new McpCallResult(text, result.IsError == true);
        }, ct);

    private async Task<T> WithClientAsync<T>(Uri endpoint, string? authorization, Func<McpClient, Task<T>> work, CancellationToken ct)
    {
        try
        {
            var transport = new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = endpoint,
                TransportMode = HttpTransportMode.StreamableHttp,
                Name = "keystone",
                ConnectionTimeout = TimeSpan.FromSeconds(_options.Value.TimeoutSeconds),
                AdditionalHeaders = authorization is null ? null : new Dictionary<string, string> { ["Authorization"] = authorization },
            }, _http, NullLoggerFactory.Instance, ownsHttpClient: false);
            await using (transport)
            {
                await using var client = await McpClient.CreateAsync(transport, new McpClientOptions
                {
                    ClientInfo = new Implementation { Name = "keystone", Version = "1.0" },
                    InitializationTimeout = TimeSpan.FromSeconds(_options.Value.TimeoutSeconds),
                }, NullLoggerFactory.Instance, ct);
                return await work(client);
            }
        }
        catch (Exception ex) when (!ct.IsCancellationRequested && ex is not McpServerException)
        {
            throw Classify(ex);
        }
    }

    /// <summary>Turns whatever the transport threw into a plain sentence and a state (never a secret: headers are not in messages).</summary>
    private static McpServerException Classify(Exception ex)
    {
        var http = Find<HttpRequestException>(ex);
        if (http?.StatusCode is { } status)
        {
            return (int)status is 401 or 403
                ? new McpServerException(McpServerException.Invalid, $"The server refused the credentials (HTTP {(int)status}). Check the authorization header.", ex)
                : (int)status >= 500
                    ? new McpServerException(McpServerException.Down, $"The server answered HTTP {(int)status}.", ex)
                    : new McpServerException(McpServerException.Invalid, $"The server answered HTTP {(int)status}; is the URL its MCP endpoint?", ex);
        }

        if (Find<AddressRefusedException>(ex) is { } refused)
        {
            return new McpServerException(McpServerException.Down, refused.Message, ex);
        }

        if (Find<McpProtocolException>(ex) is { } protocol)
        {
            return new McpServerException(McpServerException.Invalid, $"The server refused the request: {Cut(protocol.Message)}", ex);
        }

        // A connection that failed or timed out, anywhere in the chain the client wrapped it in.
        return Find<SocketException>(ex) is not null || Find<TimeoutException>(ex) is not null || Find<TaskCanceledException>(ex) is not null
            || (Find<HttpRequestException>(ex) is { } h && h.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
            ? new McpServerException(McpServerException.Down, "The server did not answer (connection failed or timed out).", ex)
            : new McpServerException(McpServerException.Invalid, "The server's answer is not valid MCP (Streamable HTTP).", ex);
    }

    private static T? Find<T>(Exception? ex) where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T found)
            {
                return found;
            }
        }

        return null;
    }

    private static string Cut(string s) => s.Length <= 300 ? s : s[..300] + "…";

    /// <summary>Resolves the host and connects only to an allowed address (checked here, so DNS rebinding cannot slip past).</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        var allowed = _options.Value.AllowPrivateAddresses ? addresses : [.. addresses.Where(AddressGuard.IsPublic)];
        if (allowed.Length == 0)
        {
            throw new AddressRefusedException($"'{host}' resolves only to private, loopback or link-local addresses, which are not allowed for MCP servers.");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private sealed class AddressRefusedException(string message) : IOException(message);
}
