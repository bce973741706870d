using System.Text.RegularExpressions;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// The two halves of hybrid retrieval on one database (one implementation per mode, <c>AddPerDatabase</c>): chunk ids
/// best first by full-text rank, and by cosine similarity to the question's vector among the vectors of one model.
/// Both read one tenant's chunks only (the tenant filter here, and forced row-level security on PostgreSQL).
/// </summary>
internal interface IKnowledgeSearch
{
    Task<IReadOnlyList<Guid>> TextAsync(Guid tenantId, IReadOnlyList<string> words, RetrievalFilter filter, int limit, CancellationToken ct);

    Task<IReadOnlyList<Guid>> VectorAsync(Guid tenantId, string model, float[] vector, RetrievalFilter filter, int limit, CancellationToken ct);
}

/// <summary>The words of a question that the text index searches for (letters and digits only: safe in both query languages).</summary>
internal static partial class SearchWords
{
    public const int MaxWords = 32;

    public static IReadOnlyList<string> Of(string query) => Word().Matches(query)
        .Select(m => m.Value.ToLowerInvariant())
        .Distinct(StringComparer.Ordinal)
        .Take(MaxWords)
        .ToList();

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Word();
}
