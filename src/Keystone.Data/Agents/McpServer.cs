namespace Keystone.Data.Agents;

/// <summary>
/// A Model Context Protocol server a tenant admin registered (Streamable HTTP transport). Its tools, as last listed, are
/// kept in <see cref="ToolsJson"/> so a run offers them without asking the server first; each call goes to the server.
/// </summary>
public sealed class McpServer : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>Short lower-case name; its tools are offered as <c>mcp__&lt;name&gt;__&lt;tool&gt;</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>The server's endpoint (http or https).</summary>
    public string Url { get; set; } = "";

    /// <summary>The Authorization header's value, encrypted with Data Protection (like BYOK keys); null for none.</summary>
    public string? ProtectedAuthHeader { get; set; }

    /// <summary>The header's last four characters, for the console (<c>…a1b2</c>).</summary>
    public string? AuthHeaderHint { get; set; }

    /// <summary><c>unknown</c>, <c>ok</c>, <c>down</c> (no answer) or <c>invalid</c> (an answer that is not MCP).</summary>
    public string State { get; set; } = "unknown";

    /// <summary>Why the last contact failed, in plain words (never the secret).</summary>
    public string? LastError { get; set; }

    public DateTime? CheckedUtc { get; set; }

    /// <summary>The tools as the server last listed them: <c>[{ name, description, inputSchema, readOnly }]</c>.</summary>
    public string ToolsJson { get; set; } = "[]";

    public string CreatedByUserId { get; set; } = "";

    public DateTime CreatedUtc { get; set; }

    public DateTime UpdatedUtc { get; set; }
}
