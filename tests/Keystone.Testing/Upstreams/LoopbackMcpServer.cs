using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Server;

namespace Keystone.Testing.Upstreams;

/// <summary>One call a tool of the <see cref="LoopbackMcpServer"/> received.</summary>
public sealed record RecordedMcpCall(string Tool, string Argument);

/// <summary>
/// A real Model Context Protocol server on 127.0.0.1 (Kestrel, port 0), built with the SDK's server side
/// (<c>ModelContextProtocol.AspNetCore</c>, Streamable HTTP at <see cref="Endpoint"/>). Its tools record every call:
/// <c>lookup_order</c> (read-only, needs <c>order_id</c>), <c>long_text</c> (returns <c>size</c> characters) and
/// <c>failing</c> (answers a tool error). With an authorization value, requests without that exact header get 401.
/// <see cref="GarbageEndpoint"/> answers HTML, like a URL that is not an MCP server.
/// </summary>
public sealed class LoopbackMcpServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<RecordedMcpCall> _calls = new();
    private readonly ConcurrentQueue<string> _authorizations = new();
    private WebApplication _app = default!;

    private LoopbackMcpServer(string? requiredAuthorization) => RequiredAuthorization = requiredAuthorization;

    public string? RequiredAuthorization { get; }

    /// <summary>The MCP endpoint (<c>http://127.0.0.1:port/mcp</c>).</summary>
    public Uri Endpoint { get; private set; } = default!;

    /// <summary>An endpoint that answers a web page instead of MCP.</summary>
    public Uri GarbageEndpoint { get; private set; } = default!;

    /// <summary>Every tool call, in order.</summary>
    public IReadOnlyList<RecordedMcpCall> Calls => [.. _calls];

    /// <summary>The Authorization header of every request (empty string when none).</summary>
    public IReadOnlyList<string> Authorizations => [.. _authorizations];

    public static async Task<LoopbackMcpServer> StartAsync(string? requiredAuthorization = null)
    {
        var server = new LoopbackMcpServer(requiredAuthorization);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Keystone.LoopbackMcp", ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.AddMcpServer(o => o.ServerInfo = new ModelContextProtocol.Protocol.Implementation { Name = "loopback-test", Version = "1.0" })
            .WithHttpTransport(o => o.Stateless = true)
            .WithTools(
            [
                McpServerTool.Create((string order_id) =>
                {
                    server._calls.Enqueue(new RecordedMcpCall("lookup_order", order_id));
                    return $"Order {order_id} shipped on 2026-12-01.";
                }, new McpServerToolCreateOptions { Name = "lookup_order", Description = "Looks up an order by its id.", ReadOnly = true }),
                McpServerTool.Create((int size) =>
                {
                    server._calls.Enqueue(new RecordedMcpCall("long_text", size.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                    return new string('x', Math.Clamp(size, 0, 1_000_000));
                }, new McpServerToolCreateOptions { Name = "long_text", Description = "Returns a text of the given size." }),
                McpServerTool.Create((string reason) =>
                {
                    server._calls.Enqueue(new RecordedMcpCall("failing", reason));
                    throw new McpException("the order system is offline");
#pragma warning disable CS0162 // The delegate needs a return type for the SDK to describe it.
                    return "";
#pragma warning restore CS0162
                }, new McpServerToolCreateOptions { Name = "failing", Description = "Always fails." }),
            ]);
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            var header = context.Request.Headers.Authorization.ToString();
            server._authorizations.Enqueue(header);
            if (server.RequiredAuthorization is not null && header != server.RequiredAuthorization)
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return;
            }

            await next(context);
        });
        app.MapMcp("/mcp");
        app.MapPost("/garbage", () => Results.Text("<html><body>Not an MCP server</body></html>", "text/html"));
        await app.StartAsync();
        server._app = app;
        var origin = MockUpstreamServer.OriginOf(app);
        server.Endpoint = new Uri(origin, "/mcp");
        server.GarbageEndpoint = new Uri(origin, "/garbage");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
