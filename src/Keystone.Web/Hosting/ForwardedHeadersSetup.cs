using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Hosting;

/// <summary>
/// The <c>ForwardedHeaders</c> section: the reverse proxies (or load balancers) in front of Keystone whose
/// <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> it believes. Behind a proxy every connection comes from the
/// proxy's address, so without this the sign-in throttle counts every client as one (one attacker's wrong passwords
/// lock everyone out of signing in) and a TLS-terminating proxy's https requests look like http (the sign-in cookie
/// loses its Secure flag). Trusting the headers from anyone else would let any client choose its own address and
/// escape the throttle, so nothing is trusted unless listed here (not even loopback: a proxy on the same host is
/// listed as 127.0.0.1).
/// </summary>
internal sealed class TrustedProxiesOptions
{
    public const string SectionName = "ForwardedHeaders";

    /// <summary>Addresses of the proxies (IPv4 or IPv6), e.g. <c>10.0.0.5</c>.</summary>
    public List<string> KnownProxies { get; set; } = [];

    /// <summary>Networks the proxies are in, in CIDR notation, e.g. <c>10.0.0.0/24</c>.</summary>
    public List<string> KnownNetworks { get; set; } = [];

    /// <summary>
    /// How many proxies deep the client's address is read (entries of <c>X-Forwarded-For</c> taken from the right, each
    /// added by a trusted proxy). Default 1: one proxy in front.
    /// </summary>
    [Range(1, 10)]
    public int ForwardLimit { get; set; } = 1;

    /// <summary>Whether any proxy is trusted (else the middleware is not in the pipeline at all).</summary>
    public bool Enabled => KnownProxies.Count > 0 || KnownNetworks.Count > 0;
}

/// <summary>Every listed address and network must parse; the message names the entry (<c>ForwardedHeaders:KnownProxies:0</c>).</summary>
internal sealed class TrustedProxiesValidation : IValidateOptions<TrustedProxiesOptions>
{
    public ValidateOptionsResult Validate(string? name, TrustedProxiesOptions options)
    {
        var failures = new List<string>();
        for (var i = 0; i < options.KnownProxies.Count; i++)
        {
            if (!IsAddress(options.KnownProxies[i]))
            {
                failures.Add($"{TrustedProxiesOptions.SectionName}:KnownProxies:{i} '{options.KnownProxies[i]}' is not an IP address (e.g. 10.0.0.5).");
            }
        }

        for (var i = 0; i < options.KnownNetworks.Count; i++)
        {
            if (!System.Net.IPNetwork.TryParse(options.KnownNetworks[i], out _))
            {
                failures.Add($"{TrustedProxiesOptions.SectionName}:KnownNetworks:{i} '{options.KnownNetworks[i]}' is not a network in CIDR notation (e.g. 10.0.0.0/24).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    // IPAddress.TryParse also takes inet_aton's short forms ("10.0.0" is 10.0.0.0): a dropped octet is a typo to refuse,
    // not a proxy to trust, so an IPv4 address must have its four parts.
    private static bool IsAddress(string value) => IPAddress.TryParse(value, out var address)
        && (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || value.Split('.').Length == 4);
}

internal static partial class ForwardedHeadersSetup
{
    /// <summary>Binds and validates <see cref="TrustedProxiesOptions"/> and turns them into the framework's forwarded-headers settings.</summary>
    public static IServiceCollection AddKeystoneForwardedHeaders(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<TrustedProxiesOptions>().BindConfiguration(TrustedProxiesOptions.SectionName).ValidateDataAnnotations();
        services.AddSingleton<IValidateOptions<TrustedProxiesOptions>, TrustedProxiesValidation>();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<TrustedProxiesOptions>>((forwarded, trusted) =>
        {
            // Only the client's address and scheme: the Host header is the proxy's to pass on, not a client's to choose.
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            forwarded.ForwardLimit = trusted.Value.ForwardLimit;
            // The framework trusts loopback by default; Keystone trusts exactly the list.
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var proxy in trusted.Value.KnownProxies)
            {
                forwarded.KnownProxies.Add(IPAddress.Parse(proxy));
            }

            foreach (var network in trusted.Value.KnownNetworks)
            {
                forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
            }
        });
        return services;
    }

    /// <summary>First in the pipeline when a proxy is trusted, so everything after it (the sign-in throttle, cookies, logs) sees the client.</summary>
    public static IApplicationBuilder UseKeystoneForwardedHeaders(this WebApplication app)
    {
        var trusted = app.Services.GetRequiredService<IOptions<TrustedProxiesOptions>>().Value;
        if (!trusted.Enabled)
        {
            return app;
        }

        LogTrusted(app.Logger, string.Join(", ", trusted.KnownProxies.Concat(trusted.KnownNetworks)), trusted.ForwardLimit);
        return app.UseForwardedHeaders();
    }

    [LoggerMessage(EventId = 9410, Level = LogLevel.Information,
        Message = "Trusting X-Forwarded-For and X-Forwarded-Proto from {Proxies} (up to {Limit} proxies deep)")]
    private static partial void LogTrusted(ILogger log, string proxies, int limit);
}
