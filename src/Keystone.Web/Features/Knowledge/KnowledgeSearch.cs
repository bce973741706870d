using System.Text.RegularExpressions;
using Keystone.Data;
using Keystone.Data.Knowledge;
using Keystone.Data.Vectors;
using Microsoft.EntityFrameworkCore;

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

/// <summary>
/// The vector half, the same on both databases: the product's one vector search (<see cref="VectorSearch"/>, shared with
/// the semantic cache; pgvector HNSW on PostgreSQL, an in-memory SIMD scan on SQLite). A tag filter is resolved to the
/// tenant's documents carrying the tag first, so the search itself filters by document only.
/// </summary>
internal abstract class KnowledgeSearch(KeystoneDbFactory dbFactory, VectorSearch vectors) : IKnowledgeSearch
{
    protected KeystoneDbFactory DbFactory => dbFactory;

    /// <summary>How many chunks the tenant holds (all models, embedded or not).</summary>
    protected async Task<long> ChunkCountAsync(Guid tenantId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        return await db.Set<KnowledgeChunk>().LongCountAsync(c => c.TenantId == tenantId, ct);
    }

    public abstract Task<IReadOnlyList<Guid>> TextAsync(Guid tenantId, IReadOnlyList<string> words, RetrievalFilter filter, int limit, CancellationToken ct);

    public async Task<IReadOnlyList<Guid>> VectorAsync(Guid tenantId, string model, float[] vector, RetrievalFilter filter, int limit, CancellationToken ct)
    {
        IReadOnlyCollection<Guid>? documents = filter.DocumentIds is { Count: > 0 } ids ? ids : null;
        if (filter.Tag is { } tag)
        {
            await using var db = dbFactory.ForTenant(tenantId);
            var pattern = KnowledgeTags.LikePattern(tag);
            var tagged = await db.Set<KnowledgeDocument>().AsNoTracking()
                .Where(d => d.TenantId == tenantId && EF.Functions.Like(d.Tags, pattern))
                .Select(d => d.Id).ToListAsync(ct);
            documents = documents is null ? tagged : [.. tagged.Intersect(documents)];
        }

        var found = await vectors.NearestAsync(new VectorQuery(VectorTable.Knowledge, tenantId, model, vector, limit) { Documents = documents }, ct);
        return [.. found.Select(m => m.ChunkId)];
    }
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
