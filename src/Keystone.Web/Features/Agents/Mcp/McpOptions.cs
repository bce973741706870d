using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Agents.Mcp;

/// <summary>MCP servers tenants register (<c>Agents:Mcp:*</c>).</summary>
internal sealed class McpOptions
{
    public const string SectionName = "Agents:Mcp";

    /// <summary>
    /// Allow servers on private, loopback and link-local addresses. Default false: a tenant's server URL must not reach
    /// into the platform's own network (SSRF). Tests and single-machine installs turn it on.
    /// </summary>
    public bool AllowPrivateAddresses { get; set; }

    /// <summary>How long one request to a server may take, seconds. Default 20.</summary>
    [Range(1, 300)] public int TimeoutSeconds { get; set; } = 20;

    /// <summary>An MCP tool's output longer than this is cut (with a marker) before the model sees it. Default 8000 characters.</summary>
    [Range(100, 200_000)] public int OutputCapChars { get; set; } = 8_000;

    /// <summary>Servers one tenant may register. Default 10.</summary>
    [Range(1, 100)] public int MaxServersPerTenant { get; set; } = 10;

    /// <summary>Tools taken from one server (the rest are left out, and the page says so). Default 50.</summary>
    [Range(1, 500)] public int MaxToolsPerServer { get; set; } = 50;
}
