namespace Keystone.Data.Calls;

/// <summary>
/// A console user's named trace search. Owned by the user, not a tenant: support staff search across
/// tenants, and the filter itself (a query string) names the tenant scope only through the app bar.
/// </summary>
public sealed class SavedTraceSearch
{
    public Guid Id { get; set; }

    public string UserId { get; set; } = "";

    public string Name { get; set; } = "";

    /// <summary>The search page's query string (without the leading <c>?</c>): the same text a pasted link carries.</summary>
    public string Query { get; set; } = "";

    public DateTime CreatedUtc { get; set; }
}
