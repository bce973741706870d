using Keystone.Data.Identity;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// What a run may do with tools, from the role (or API key) of whom it acts for. Fixed on the run when it starts, so a
/// resumed run on another worker decides the same way.
/// </summary>
internal static class AgentPermissions
{
    public const string UsageRead = "usage:read";
    public const string TicketsCreate = "tickets:create";
    public const string EmailSend = "email:send";
    public const string CreditsIssue = "credits:issue";

    /// <summary>
    /// Not a tool permission: marks a run whose model calls the platform pays (a replay started by support or platform
    /// staff), so they go through the gateway as <c>BilledTo.Support</c> — not on the tenant's bill, not against its caps.
    /// Kept with the permissions because it is fixed when the run starts, like them, and every resumed worker must read it
    /// the same way (decision 0046: no new column).
    /// </summary>
    public const string PlatformPays = "billing:platform";

    /// <summary>Search the tenant's knowledge documents (<c>search_docs</c>).</summary>
    public const string DocsRead = "docs:read";

    /// <summary>Call tools of the tenant's MCP servers (each call still under its autonomy level, L3 by default).</summary>
    public const string McpUse = "mcp:use";

    public static readonly IReadOnlyList<string> All = [UsageRead, TicketsCreate, EmailSend, CreditsIssue, DocsRead, McpUse];

    private static readonly IReadOnlyList<string> Member = [UsageRead, TicketsCreate, EmailSend, DocsRead, McpUse];

    /// <summary>Members may read, open tickets and (with approval) email; issuing credits is for admins.</summary>
    public static IReadOnlyList<string> ForRoles(Func<string, bool> isInRole)
        => isInRole(Roles.TenantAdmin) || isInRole(Roles.PlatformAdmin) ? All
            : isInRole(Roles.TenantMember) ? Member
            : [];

    /// <summary>An admin key acts as an admin; any other key that may start runs, as a member.</summary>
    public static IReadOnlyList<string> ForApiKey(bool isAdminKey) => isAdminKey ? All : Member;

    public static string Format(IEnumerable<string> permissions) => string.Join(' ', permissions);

    public static bool Has(string stored, string permission)
        => stored.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(permission, StringComparer.Ordinal);
}
