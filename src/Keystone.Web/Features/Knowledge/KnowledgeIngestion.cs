using System.Security.Cryptography;
using Keystone.Data;
using Keystone.Data.Knowledge;
using Keystone.Data.Vectors;
using Keystone.Gateway.Tokenization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// The write path: each file is checked, parsed and chunked on its own (a bad file fails alone with its reason), then
/// its document, chunks and outbox rows are written in ONE transaction. Uploading a name again changes that document:
/// chunks whose header and text are unchanged keep their embeddings; only new or changed chunks get outbox rows.
/// The caller names the tenant from its own authentication (the circuit's or the API key's), never from input.
/// </summary>
internal sealed class KnowledgeIngestion(
    KeystoneDbFactory dbFactory,
    KnowledgeModelResolver models,
    IOptions<KnowledgeOptions> options,
    TimeProvider clock,
    KnowledgeJobQueue jobs,
    VectorSearch vectors,
    ILogger<KnowledgeIngestion> log)
{
    private readonly KnowledgeOptions _options = options.Value;

    public async Task<IReadOnlyList<KnowledgeUploadResult>> IngestAsync(Guid tenantId, IReadOnlyList<KnowledgeUpload> files,
        IReadOnlyList<string> tags, CancellationToken ct)
    {
        if (files.Count == 0)
        {
            throw new KnowledgeRequestException("files", "Choose at least one file to upload.");
        }

        if (files.Count > _options.MaxFilesPerUpload)
        {
            throw new KnowledgeRequestException("files", $"{files.Count} files is too many for one upload: send at most {_options.MaxFilesPerUpload}.");
        }

        var normalizedTags = KnowledgeTags.Normalize(tags, "tags");
        var liveModel = await models.LiveModelAsync(tenantId, ct);
        var chunker = new Chunker(TokenCounter.Instance, _options.ChunkTokens, _options.OverlapTokens);
        var results = new List<KnowledgeUploadResult>(files.Count);
        foreach (var file in files)
        {
            try
            {
                results.Add(await IngestOneAsync(tenantId, file, normalizedTags, liveModel, chunker, ct));
            }
            catch (KnowledgeFileException ex)
            {
                results.Add(new KnowledgeUploadResult(file.Name, "failed", null, 0, 0, ex.Code, ex.Message));
            }
        }

        if (results.Any(r => r.ChunksToEmbed > 0))
        {
            jobs.EmbedSoon();
        }

        return results;
    }

    private async Task<KnowledgeUploadResult> IngestOneAsync(Guid tenantId, KnowledgeUpload file, IReadOnlyList<string> tags, string liveModel,
        Chunker chunker, CancellationToken ct)
    {
        var name = Path.GetFileName(file.Name.Trim());
        if (name.Length is 0 or > KnowledgeDocument.NameMaxLength || name != file.Name.Trim())
        {
            throw new KnowledgeFileException(KnowledgeErrors.InvalidName,
                $"'{file.Name}' is not a usable file name (1–{KnowledgeDocument.NameMaxLength} characters, no folders).");
        }

        DocumentParser.KindOf(name);
        if (file.Size > _options.MaxFileBytes)
        {
            throw new KnowledgeFileException(KnowledgeErrors.TooLarge,
                $"'{name}' is {file.Size / 1024.0 / 1024.0:0.#} MB; the largest file accepted is {_options.MaxFileBytes / 1024.0 / 1024.0:0.#} MB.");
        }

        var parsed = DocumentParser.Parse(name, file.Bytes);
        var drafts = chunker.Chunk(parsed);
        var hash = Convert.ToHexStringLower(SHA256.HashData(file.Bytes));
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StoreAsync(tenantId, name, parsed, hash, file.Bytes.LongLength, tags, drafts, liveModel, ct);
            }
            catch (Exception ex) when (LostRace(ex) && !ct.IsCancellationRequested && attempt < MaxStoreAttempts)
            {
                // Another upload of the same name won a race (the unique name, the document's hash as concurrency
                // token, SQLite's one writer, or a PostgreSQL deadlock with another upload or the embedding job that
                // deletes or leases the same rows): nothing of this one was written; read the document again and redo.
            }
            catch (Exception ex) when (LostRace(ex) && !ct.IsCancellationRequested)
            {
                throw new KnowledgeFileException(KnowledgeErrors.Conflict,
                    $"'{name}' was being changed by other uploads at the same moment and was not saved; upload it again.");
            }
        }
    }

    /// <summary>A refusal from the database that means another writer got there first (raised in or outside SaveChanges).</summary>
    private static bool LostRace(Exception ex) => ex is DbUpdateException || WriteConflicts.IsConflict(ex);

    /// <summary>Tries of one file's transaction against concurrent uploads of the same name.</summary>
    private const int MaxStoreAttempts = 8;

    private async Task<KnowledgeUploadResult> StoreAsync(Guid tenantId, string name, ParsedDocument parsed, string hash, long size,
        IReadOnlyList<string> tags, IReadOnlyList<ChunkDraft> drafts, string liveModel, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var storedTags = KnowledgeTags.Store(tags);
        await using var db = dbFactory.ForTenant(tenantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var document = await db.Set<KnowledgeDocument>().SingleOrDefaultAsync(d => d.TenantId == tenantId && d.Name == name, ct);
        var status = document is null ? "created" : "updated";
        if (document is null)
        {
            if (await db.Set<KnowledgeDocument>().CountAsync(d => d.TenantId == tenantId, ct) >= _options.MaxDocumentsPerTenant)
            {
                throw new KnowledgeFileException(KnowledgeErrors.TooManyDocuments,
                    $"'{name}' was not added: this workspace already holds {_options.MaxDocumentsPerTenant} documents, the most allowed. Delete some first.");
            }

            document = new KnowledgeDocument { Id = Guid.CreateVersion7(), TenantId = tenantId, Name = name, CreatedUtc = now };
            db.Add(document);
        }
        else if (document.ContentHash == hash && document.Tags == storedTags)
        {
            return new KnowledgeUploadResult(name, "unchanged", document.Id, document.ChunkCount, 0, null, null);
        }

        document.Title = parsed.Title.Length > KnowledgeDocument.NameMaxLength ? parsed.Title[..KnowledgeDocument.NameMaxLength] : parsed.Title;
        document.Kind = parsed.Kind;
        document.Tags = storedTags;
        document.ContentHash = hash;
        document.SizeBytes = size;
        document.ChunkCount = drafts.Count;
        document.UpdatedUtc = now;

        // Unchanged chunks (same header and text) are kept with their embeddings, whatever their new position.
        var existing = await db.Set<KnowledgeChunk>().Where(c => c.DocumentId == document.Id).ToListAsync(ct);
        var reusable = existing.GroupBy(c => c.ContentHash, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => new Queue<KnowledgeChunk>(g), StringComparer.Ordinal);
        var toEmbed = 0;
        foreach (var draft in drafts)
        {
            if (reusable.TryGetValue(draft.ContentHash, out var queue) && queue.TryDequeue(out var kept))
            {
                kept.Position = draft.Position;
                continue;
            }

            var chunk = new KnowledgeChunk
            {
                Id = Guid.CreateVersion7(), TenantId = tenantId, DocumentId = document.Id, Position = draft.Position, Section = draft.Section,
                Header = draft.Header, Text = draft.Text, ContentHash = draft.ContentHash, TokenCount = draft.TokenCount,
            };
            db.Add(chunk);
            db.Add(new KnowledgeOutboxEntry
            {
                Id = Guid.CreateVersion7(), TenantId = tenantId, ChunkId = chunk.Id, DocumentId = document.Id, Model = liveModel,
                CreatedUtc = now, NextAttemptUtc = now,
            });
            toEmbed++;
        }

        // Chunks no longer in the document go, and their embeddings and outbox rows with them (foreign-key cascade).
        var removed = reusable.Values.Sum(q => q.Count);
        db.RemoveRange(reusable.Values.SelectMany(q => q));
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        if (removed > 0)
        {
            // Their vectors went with them: the in-memory vector sets (SQLite) must not keep them.
            vectors.Changed(VectorTable.Knowledge, tenantId);
        }

        log.LogInformation("Knowledge document {DocumentId} {Status} for tenant {TenantId}: {Chunks} chunks, {ToEmbed} to embed",
            document.Id, status, tenantId, drafts.Count, toEmbed);
        return new KnowledgeUploadResult(name, status, document.Id, drafts.Count, toEmbed, null, null);
    }

    /// <summary>Deletes a document of the tenant with its chunks, embeddings and outbox rows. False when there is none.</summary>
    public async Task<bool> DeleteAsync(Guid tenantId, Guid documentId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var deleted = await db.Set<KnowledgeDocument>().Where(d => d.TenantId == tenantId && d.Id == documentId).ExecuteDeleteAsync(ct);
        if (deleted > 0)
        {
            vectors.Changed(VectorTable.Knowledge, tenantId);
            log.LogInformation("Knowledge document {DocumentId} of tenant {TenantId} deleted", documentId, tenantId);
        }

        return deleted > 0;
    }
}
