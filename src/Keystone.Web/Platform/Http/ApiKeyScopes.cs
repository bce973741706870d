namespace Keystone.Web.Platform.Http;

/// <summary>What a tenant API key may do. Stored space-separated on the key.</summary>
internal static class ApiKeyScopes
{
    /// <summary><c>/v1/chat/completions</c>, <c>/v1/models</c>, <c>/api/v1/feedback</c>.</summary>
    public const string Chat = "chat";

    /// <summary><c>/v1/embeddings</c>, <c>/v1/models</c>.</summary>
    public const string Embeddings = "embeddings";

    /// <summary><c>/api/v1/calls/{traceId}</c>, <c>/api/v1/usage</c>.</summary>
    public const string UsageRead = "usage:read";

    /// <summary><c>/api/v1/budgets</c>; an admin key may also do everything the other scopes allow.</summary>
    public const string Admin = "admin";

    /// <summary>Every scope, in display order.</summary>
    public static readonly IReadOnlyList<string> All = [Chat, Embeddings, UsageRead, Admin];

    /// <summary>Parses a stored scope list, dropping unknown words.</summary>
    public static IReadOnlySet<string> Parse(string? scopes) => (scopes ?? "")
        .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Where(All.Contains).ToHashSet(StringComparer.Ordinal);

    /// <summary>The stored form of a set of scopes (known ones only, in display order).</summary>
    public static string Format(IEnumerable<string> scopes)
    {
        var set = scopes.ToHashSet(StringComparer.Ordinal);
        return string.Join(' ', All.Where(set.Contains));
    }

    /// <summary>True when <paramref name="granted"/> allows <paramref name="required"/> (admin allows everything).</summary>
    public static bool Allows(IReadOnlySet<string> granted, string required)
        => granted.Contains(required) || granted.Contains(Admin);
}
