using System.Net;
using System.Net.Sockets;

namespace Keystone.Web.Features.Agents.Mcp;

/// <summary>
/// The SSRF guard for MCP server URLs: only http and https, no credentials in the URL, and (unless
/// <see cref="McpOptions.AllowPrivateAddresses"/>) only public addresses. The address check runs again at connect time on
/// the address actually dialled, so a name that resolves to a private address later (DNS rebinding) is refused too.
/// </summary>
internal static class AddressGuard
{
    /// <summary>Null when <paramref name="url"/> may be registered, else why not (plain words).</summary>
    public static string? CheckUrl(string? url, bool allowPrivate, out Uri? uri)
    {
        uri = null;
        if (string.IsNullOrWhiteSpace(url) || url.Length > 2_000 || !Uri.TryCreate(url.Trim(), UriKind.Absolute, out var parsed))
        {
            return "Write the server's full URL, e.g. https://mcp.example.com/mcp.";
        }

        if (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps)
        {
            return "Only http and https URLs are allowed.";
        }

        if (!string.IsNullOrEmpty(parsed.UserInfo))
        {
            return "Put credentials in the authorization header field, not in the URL.";
        }

        if (!allowPrivate && (parsed.IsLoopback || string.Equals(parsed.Host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(parsed.Host, out var ip) && !IsPublic(ip))))
        {
            return "Private, loopback and link-local addresses are not allowed for MCP servers on this platform.";
        }

        uri = parsed;
        return null;
    }

    /// <summary>True for an address on the public internet: not loopback, private, link-local, CGNAT, multicast or unspecified.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 0 || b[0] == 10 || b[0] == 127 || b[0] >= 224
                || (b[0] == 100 && b[1] >= 64 && b[1] <= 127)   // carrier-grade NAT
                || (b[0] == 169 && b[1] == 254)                  // link-local (cloud metadata lives here)
                || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 192 && b[1] == 0 && b[2] == 0)
                || (b[0] == 198 && (b[1] == 18 || b[1] == 19)));
        }

        var v6 = address.GetAddressBytes();
        return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || address.IsIPv6UniqueLocal
            || (v6[0] & 0xfe) == 0xfc);
    }
}
