using System.Text;

namespace Keystone.Data.Calls;

/// <summary>
/// Turns what a person typed into the search box into the words both full-text engines are asked for.
/// Only letters and digits survive, so FTS5 / tsquery operators in the input can never cause a syntax
/// error (a 500) or change the query's meaning; every word must match (AND).
/// </summary>
public static class FullTextQuery
{
    /// <summary>At most this many words are searched; more adds nothing but cost.</summary>
    public const int MaxWords = 12;

    /// <summary>The words of <paramref name="text"/>, lower-cased, in order, without duplicates.</summary>
    public static IReadOnlyList<string> Words(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return [];
        }

        var words = new List<string>();
        var current = new StringBuilder();
        foreach (var c in text)
        {
            if (char.IsLetterOrDigit(c))
            {
                current.Append(char.ToLowerInvariant(c));
                continue;
            }

            Flush();
        }

        Flush();
        return words;

        void Flush()
        {
            if (current.Length > 0 && words.Count < MaxWords)
            {
                var word = current.ToString();
                if (!words.Contains(word, StringComparer.Ordinal))
                {
                    words.Add(word);
                }
            }

            current.Clear();
        }
    }

    /// <summary>An FTS5 MATCH expression: every word as a quoted string, implicitly AND-ed.</summary>
    public static string ToFts5(IReadOnlyList<string> words) => string.Join(' ', words.Select(w => "\"" + w + "\""));

    /// <summary>The input of PostgreSQL's <c>plainto_tsquery</c> (which AND-s the words itself).</summary>
    public static string ToPlainTsQuery(IReadOnlyList<string> words) => string.Join(' ', words);
}

/// <summary>
/// Where a database's newest full-text matches begin (<see cref="KeystoneDbContext.NewestMatchesAsync"/>): a time,
/// or null when fewer matched than asked for; then <see cref="Keys"/> lists every match when the database read
/// them as keys (null when it did not).
/// </summary>
public sealed record NewestMatches(DateTime? StartUtc, IReadOnlyList<long>? Keys);
