using System.Text.RegularExpressions;

namespace Keystone.Web.Features.Knowledge;

/// <summary>Document tags: lower-case words of letters, digits, <c>-</c> and <c>_</c>, stored as <c>|a|b|</c>.</summary>
internal static partial class KnowledgeTags
{
    public const string Rule = "1–32 characters of letters, digits, '-' or '_'";

    public static bool IsValid(string tag) => TagPattern().IsMatch(tag);

    public static IReadOnlyList<string> Normalize(IEnumerable<string> tags, string param)
    {
        var list = tags.Select(t => t.Trim().ToLowerInvariant()).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        foreach (var tag in list)
        {
            if (!IsValid(tag))
            {
                throw new KnowledgeRequestException(param, $"'{tag}' is not a valid tag: use {Rule}.");
            }
        }

        if (list.Count > 10)
        {
            throw new KnowledgeRequestException(param, "A document takes at most 10 tags.");
        }

        return list;
    }

    public static string Store(IReadOnlyList<string> tags) => tags.Count == 0 ? "" : "|" + string.Join('|', tags) + "|";

    public static IReadOnlyList<string> Read(string stored) => stored.Split('|', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The LIKE pattern that finds one (valid) tag.</summary>
    public static string LikePattern(string tag) => "%|" + tag + "|%";

    [GeneratedRegex("^[a-z0-9_-]{1,32}$")]
    private static partial Regex TagPattern();
}
