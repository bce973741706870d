namespace Keystone.Web.Features.Keys;

/// <summary>A key's model allow-list: aliases or <c>provider/model</c> names, stored space-separated (null: no list).</summary>
internal static class ApiKeyModels
{
    /// <summary>Most names one key may list.</summary>
    public const int MaxCount = 50;

    /// <summary>The stored list as a case-insensitive set (alias names are), or null when the key has none.</summary>
    public static IReadOnlySet<string>? Parse(string? stored) => string.IsNullOrWhiteSpace(stored)
        ? null
        : stored.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>The stored form (sorted, duplicates dropped), or null for "every model the tenant may use".</summary>
    public static string? Format(IEnumerable<string>? models)
    {
        var list = models?.Select(m => m.Trim()).Where(m => m.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase)
            .Order(StringComparer.OrdinalIgnoreCase).ToList();
        return list is null || list.Count == 0 ? null : string.Join(' ', list);
    }
}
