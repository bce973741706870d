using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Hosting;

/// <summary>
/// The <c>Server</c> configuration section: how many connections Kestrel holds open at once, enforced before a
/// request is read. Kestrel does not read its limits from configuration itself, so they are bound here and
/// validated at start-up. Beyond a limit Kestrel closes the new connection at once (the client sees a reset): the
/// instance stays up instead of running out of file descriptors, which is how an unbounded pile-up of connections
/// after a stall ended the API benchmark's process (docs/benchmarks.md). Requests in flight on the model-calling
/// routes have their own, politer limit (<c>Api:MaxConcurrentRequests</c>, a 503 with <c>Retry-After</c>).
/// </summary>
internal sealed class ServerLimitsOptions
{
    public const string SectionName = "Server";

    /// <summary>
    /// Open HTTP connections (keep-alive included; WebSockets count under the next setting instead). Default 10,000:
    /// a tenant backend keeps a few pooled connections, so this is far above one instance's need and well below the
    /// usual 20,000–65,536 open-files limit.
    /// </summary>
    [Range(1, 1_000_000)]
    public long MaxConcurrentConnections { get; set; } = 10_000;

    /// <summary>Open upgraded connections: the console's Blazor circuits (one WebSocket per open tab). Default 5,000.</summary>
    [Range(1, 1_000_000)]
    public long MaxConcurrentUpgradedConnections { get; set; } = 5_000;
}

internal static class ServerLimitsSetup
{
    /// <summary>Binds and validates <see cref="ServerLimitsOptions"/> and applies them to Kestrel.</summary>
    public static IServiceCollection AddKeystoneServerLimits(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<ServerLimitsOptions>().BindConfiguration(ServerLimitsOptions.SectionName).ValidateDataAnnotations();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<ServerLimitsOptions>>((kestrel, limits) =>
        {
            kestrel.Limits.MaxConcurrentConnections = limits.Value.MaxConcurrentConnections;
            kestrel.Limits.MaxConcurrentUpgradedConnections = limits.Value.MaxConcurrentUpgradedConnections;
            // Header values may carry obs-text (bytes 0x80-0xFF, RFC 9110 5.5), read as Latin-1: Kestrel refuses them by
            // default with an empty 400 before the app runs; accepted, they reach the app, which answers a bad value
            // with a 4xx it can explain (on the API, in the error shape). NUL and bare CR are still refused by Kestrel.
            kestrel.RequestHeaderEncodingSelector = _ => System.Text.Encoding.Latin1;
        });
        return services;
    }
}
