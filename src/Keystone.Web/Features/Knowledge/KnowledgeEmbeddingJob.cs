using Keystone.Data;
using Keystone.Data.Knowledge;
using Keystone.Gateway;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Knowledge;

/// <summary>What one run did.</summary>
internal sealed record KnowledgeEmbeddingRun(int Queued, int Embedded, int Failed, int Batches);

/// <summary>An outbox row this run holds the lease of.</summary>
internal sealed record ClaimedRow(Guid Id, Guid TenantId, Guid ChunkId, Guid DocumentId, string Model, int Attempts);

/// <summary>A batch after the embedding call: the vectors to store (under the model that produced them) and the rows to close.</summary>
internal sealed record EmbeddedBatch(Guid TenantId, string Model, IReadOnlyList<ClaimedRow> Rows, IReadOnlyList<(Guid ChunkId, Guid DocumentId, float[] Vector)> Vectors);

/// <summary>
/// Embeds chunks from the outbox (decision 0038). Each batch: lease due rows (a lease that ran out, from a run that was
/// killed, is taken again), embed them through the gateway's embedding alias as the tenant (feature <c>embeddings</c>:
/// budget-reserved, priced, recorded like every call), then store the vectors and mark the rows done in one
/// transaction. A vector is keyed by (chunk, model) and written only where none exists, so however runs overlap or die
/// between the embedding call and the commit, each chunk ends with exactly one vector per model. A failed call backs off
/// (doubling, capped at an hour) and gives up after <see cref="KnowledgeOptions.MaxAttempts"/> with its reason.
/// Each run first queues every chunk that has no vector of its tenant's live model: a change of model re-embeds
/// everything into the new model's index, while retrieval keeps reading the model that embeds the question.
/// </summary>
internal sealed class KnowledgeEmbeddingJob(
    KeystoneDbFactory dbFactory,
    ILlmGateway gateway,
    KnowledgeModelResolver models,
    IOptions<KnowledgeOptions> options,
    TimeProvider clock,
    ILogger<KnowledgeEmbeddingJob> log)
{
    public const string RecurringId = "knowledge:embed";

    /// <summary>Every minute: uploads enqueue a run at once; this picks up retries, expired leases and model changes.</summary>
    public const string Cron = "* * * * *";

    /// <summary>The feature label of embedding calls (caps and usage per feature).</summary>
    public const string Feature = "embeddings";

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromHours(1);

    private readonly KnowledgeOptions _options = options.Value;

    /// <summary>The scheduled and enqueued entry point: one run unless <see cref="KnowledgeOptions.PauseEmbedding"/>.</summary>
    public async Task<KnowledgeEmbeddingRun> RunAsync(CancellationToken ct)
        => _options.PauseEmbedding ? new KnowledgeEmbeddingRun(0, 0, 0, 0) : await RunOnceAsync(ct);

    /// <summary>Queues what the live model lacks, then embeds due rows batch by batch (at most <see cref="KnowledgeOptions.MaxBatchesPerRun"/>).</summary>
    internal async Task<KnowledgeEmbeddingRun> RunOnceAsync(CancellationToken ct)
    {
        var queued = await QueueMissingAsync(ct);
        int embedded = 0, failed = 0, batches = 0;
        while (batches < _options.MaxBatchesPerRun)
        {
            var claimed = await ClaimAsync(ct);
            if (claimed.Count == 0)
            {
                break;
            }

            batches++;
            foreach (var group in claimed.GroupBy(r => r.TenantId))
            {
                var rows = group.ToList();
                try
                {
                    var batch = await EmbedAsync(group.Key, rows, ct);
                    embedded += await CommitAsync(batch, ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    failed += await FailAsync(rows, Reason(ex), ct);
                    if (ex is not GatewayException)
                    {
                        log.LogWarning(ex, "Knowledge embedding batch of tenant {TenantId} failed", group.Key);
                    }
                }
            }
        }

        if (queued + embedded + failed > 0)
        {
            log.LogInformation("Knowledge embedding run: {Queued} queued, {Embedded} embedded, {Failed} gave up, {Batches} batches",
                queued, embedded, failed, batches);
        }

        return new KnowledgeEmbeddingRun(queued, embedded, failed, batches);
    }

    /// <summary>Queues every chunk without a vector of its tenant's live model (and without an open or failed row for it).</summary>
    internal async Task<int> QueueMissingAsync(CancellationToken ct)
    {
        List<Guid> tenants;
        await using (var system = dbFactory.ForSystem())
        {
            tenants = await system.Set<KnowledgeChunk>().Select(c => c.TenantId).Distinct().ToListAsync(ct);
        }

        var queued = 0;
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var tenantId in tenants)
        {
            var live = await models.LiveModelAsync(tenantId, ct);
            await using var db = dbFactory.ForTenant(tenantId);
            var missing = await db.Set<KnowledgeChunk>()
                .Where(c => c.TenantId == tenantId
                    && !db.Set<KnowledgeEmbedding>().Any(e => e.ChunkId == c.Id && e.Model == live)
                    && !db.Set<KnowledgeOutboxEntry>().Any(o => o.ChunkId == c.Id && o.Model == live && (o.DoneUtc == null || o.FailedUtc != null)))
                .Select(c => new { c.Id, c.DocumentId })
                .Take(10_000)
                .ToListAsync(ct);
            foreach (var chunk in missing)
            {
                db.Add(new KnowledgeOutboxEntry
                {
                    Id = Guid.CreateVersion7(), TenantId = tenantId, ChunkId = chunk.Id, DocumentId = chunk.DocumentId, Model = live,
                    CreatedUtc = now, NextAttemptUtc = now,
                });
            }

            await db.SaveChangesAsync(ct);
            queued += missing.Count;
        }

        return queued;
    }

    /// <summary>Leases up to a batch of due rows (oldest first) and returns them; rows another run holds are left alone.</summary>
    internal async Task<IReadOnlyList<ClaimedRow>> ClaimAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var until = now.AddSeconds(_options.LeaseSeconds);
        var token = Guid.NewGuid();
        await using var db = dbFactory.ForSystem();
        var outbox = db.Set<KnowledgeOutboxEntry>();
        var ids = await outbox
            .Where(o => o.DoneUtc == null && o.FailedUtc == null && o.NextAttemptUtc <= now && (o.LeaseUntilUtc == null || o.LeaseUntilUtc < now))
            .OrderBy(o => o.CreatedUtc).ThenBy(o => o.Id)
            .Select(o => o.Id)
            .Take(_options.BatchSize)
            .ToListAsync(ct);
        if (ids.Count == 0)
        {
            return [];
        }

        // The conditions again: a run that leased the same rows in between wins them (PostgreSQL re-checks them after
        // the other's update commits; SQLite has one writer at a time).
        await outbox.Where(o => ids.Contains(o.Id) && o.DoneUtc == null && o.FailedUtc == null && (o.LeaseUntilUtc == null || o.LeaseUntilUtc < now))
            .ExecuteUpdateAsync(s => s
                .SetProperty(o => o.LeaseToken, token)
                .SetProperty(o => o.LeaseUntilUtc, until)
                .SetProperty(o => o.Attempts, o => o.Attempts + 1), ct);
        return await outbox.AsNoTracking().Where(o => o.LeaseToken == token)
            .Select(o => new ClaimedRow(o.Id, o.TenantId, o.ChunkId, o.DocumentId, o.Model, o.Attempts))
            .ToListAsync(ct);
    }

    /// <summary>Embeds the rows' chunks that still need it (one gateway call for the batch, as the tenant).</summary>
    internal async Task<EmbeddedBatch> EmbedAsync(Guid tenantId, IReadOnlyList<ClaimedRow> rows, CancellationToken ct)
    {
        var live = await models.LiveModelAsync(tenantId, ct);
        var chunkIds = rows.Where(r => r.Model == live).Select(r => r.ChunkId).Distinct().ToList();
        List<(Guid Id, Guid DocumentId, string Header, string Text)> chunks;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            // Rows of an older model are superseded (the new model's rows were queued) and chunks that already have a
            // vector of this model need no call: both are only closed.
            var done = await db.Set<KnowledgeEmbedding>().Where(e => chunkIds.Contains(e.ChunkId) && e.Model == live).Select(e => e.ChunkId).ToListAsync(ct);
            var rowsOfChunks = await db.Set<KnowledgeChunk>().AsNoTracking().Where(c => chunkIds.Contains(c.Id) && !done.Contains(c.Id))
                .OrderBy(c => c.Position).Select(c => new { c.Id, c.DocumentId, c.Header, c.Text }).ToListAsync(ct);
            chunks = rowsOfChunks.Select(c => (c.Id, c.DocumentId, c.Header, c.Text)).ToList();
        }

        if (chunks.Count == 0)
        {
            return new EmbeddedBatch(tenantId, live, rows, []);
        }

        var result = await gateway.EmbedAsync(
            new EmbeddingRequest { Model = _options.EmbeddingAlias, Inputs = chunks.Select(c => Chunker.EmbeddingText(c.Header, c.Text)).ToList() },
            new CallContext { TenantId = tenantId, Feature = Feature },
            ct);
        if (result.Vectors.Count != chunks.Count)
        {
            throw new InvalidOperationException($"The embedding model answered {result.Vectors.Count} vectors for {chunks.Count} inputs.");
        }

        // Stored under the model that answered: after a fallback to another target that is not the live model, and the
        // next run queues the chunk again for the live one, so one index never holds two models' vectors.
        var model = result.Outcome.Provider is { } p && result.Outcome.Model is { } m ? $"{p}/{m}" : live;
        return new EmbeddedBatch(tenantId, model, rows, chunks.Select((c, i) => (c.Id, c.DocumentId, result.Vectors[i])).ToList());
    }

    /// <summary>Stores the vectors that do not exist yet and marks the rows done, in one transaction. Returns vectors stored.</summary>
    internal async Task<int> CommitAsync(EmbeddedBatch batch, CancellationToken ct)
    {
        try
        {
            return await TryCommitAsync(batch, ct);
        }
        catch (DbUpdateException) when (!ct.IsCancellationRequested)
        {
            // Another run stored some of these vectors (or a chunk was deleted) since this one looked: look again.
            return await TryCommitAsync(batch, ct);
        }
    }

    private async Task<int> TryCommitAsync(EmbeddedBatch batch, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var chunkIds = batch.Vectors.Select(v => v.ChunkId).ToList();
        await using var db = dbFactory.ForTenant(batch.TenantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var existing = await db.Set<KnowledgeEmbedding>().Where(e => chunkIds.Contains(e.ChunkId) && e.Model == batch.Model)
            .Select(e => e.ChunkId).ToListAsync(ct);
        var alive = await db.Set<KnowledgeChunk>().Where(c => chunkIds.Contains(c.Id)).Select(c => c.Id).ToListAsync(ct);
        var stored = 0;
        foreach (var (chunkId, documentId, vector) in batch.Vectors)
        {
            if (existing.Contains(chunkId) || !alive.Contains(chunkId))
            {
                continue;
            }

            db.Add(new KnowledgeEmbedding
            {
                ChunkId = chunkId, Model = batch.Model, TenantId = batch.TenantId, DocumentId = documentId, Dimensions = vector.Length,
                Vector = vector, CreatedUtc = now,
            });
            stored++;
        }

        await db.SaveChangesAsync(ct);
        var rowIds = batch.Rows.Select(r => r.Id).ToList();
        await db.Set<KnowledgeOutboxEntry>().Where(o => rowIds.Contains(o.Id) && o.DoneUtc == null)
            .ExecuteUpdateAsync(s => s
                .SetProperty(o => o.DoneUtc, now)
                .SetProperty(o => o.LeaseToken, (Guid?)null)
                .SetProperty(o => o.LeaseUntilUtc, (DateTime?)null)
                .SetProperty(o => o.LastError, (string?)null), ct);
        await tx.CommitAsync(ct);
        return stored;
    }

    /// <summary>Backs the rows off, or gives them up after their last try. Returns the rows given up.</summary>
    private async Task<int> FailAsync(IReadOnlyList<ClaimedRow> rows, string reason, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var gaveUp = 0;
        await using var db = dbFactory.ForSystem();
        foreach (var row in rows)
        {
            var last = row.Attempts >= _options.MaxAttempts;
            var wait = TimeSpan.FromSeconds(_options.RetryBaseSeconds * Math.Pow(2, Math.Max(0, row.Attempts - 1)));
            var next = now + (wait > MaxBackoff ? MaxBackoff : wait);
            await db.Set<KnowledgeOutboxEntry>().Where(o => o.Id == row.Id && o.DoneUtc == null)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(o => o.LastError, reason)
                    .SetProperty(o => o.LeaseToken, (Guid?)null)
                    .SetProperty(o => o.LeaseUntilUtc, (DateTime?)null)
                    .SetProperty(o => o.NextAttemptUtc, next)
                    .SetProperty(o => o.FailedUtc, last ? now : (DateTime?)null), ct);
            gaveUp += last ? 1 : 0;
        }

        return gaveUp;
    }

    private static string Reason(Exception ex)
    {
        var text = ex is GatewayException g ? g.Error.Message : "The embedding call failed (" + ex.GetType().Name + ").";
        return text.Length <= KnowledgeOutboxEntry.ErrorMaxLength ? text : text[..KnowledgeOutboxEntry.ErrorMaxLength];
    }
}
