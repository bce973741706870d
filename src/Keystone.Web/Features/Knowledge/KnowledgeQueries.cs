using Keystone.Data;
using Keystone.Data.Knowledge;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Knowledge;

/// <summary>A tenant's documents with their embedding progress for the tenant's live model.</summary>
internal sealed class KnowledgeQueries(KeystoneDbFactory dbFactory, KnowledgeModelResolver models)
{
    public async Task<IReadOnlyList<KnowledgeDocumentRow>> ListAsync(Guid tenantId, CancellationToken ct)
    {
        var live = await models.LiveModelAsync(tenantId, ct);
        await using var db = dbFactory.ForTenant(tenantId);
        var documents = await db.Set<KnowledgeDocument>().AsNoTracking().Where(d => d.TenantId == tenantId)
            .OrderByDescending(d => d.UpdatedUtc).ThenBy(d => d.Name).ToListAsync(ct);
        var embedded = await db.Set<KnowledgeEmbedding>().Where(e => e.TenantId == tenantId && e.Model == live)
            .GroupBy(e => e.DocumentId).Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(g => g.Key, g => g.Count, ct);
        var failed = await db.Set<KnowledgeOutboxEntry>().Where(o => o.TenantId == tenantId && o.Model == live && o.FailedUtc != null
                && !db.Set<KnowledgeEmbedding>().Any(e => e.ChunkId == o.ChunkId && e.Model == live))
            .GroupBy(o => o.DocumentId).Select(g => new { g.Key, Count = g.Select(o => o.ChunkId).Distinct().Count(), Error = g.Max(o => o.LastError) })
            .ToDictionaryAsync(g => g.Key, ct);
        return documents.Select(d => new KnowledgeDocumentRow(d.Id, d.Name, d.Title, d.Kind, KnowledgeTags.Read(d.Tags), d.SizeBytes, d.ChunkCount,
            embedded.GetValueOrDefault(d.Id), failed.TryGetValue(d.Id, out var f) ? f.Count : 0, f?.Error, d.CreatedUtc, d.UpdatedUtc)).ToList();
    }

    public async Task<KnowledgeDocumentRow?> GetAsync(Guid tenantId, Guid documentId, CancellationToken ct)
        => (await ListAsync(tenantId, ct)).FirstOrDefault(d => d.Id == documentId);
}
