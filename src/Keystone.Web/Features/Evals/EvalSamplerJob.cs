using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using Hangfire;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Evals;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// Samples production calls into the review queue, off the request path: every few minutes it walks the calls recorded
/// since its watermark (<c>llm_calls.ingested_utc</c>, the database's clock) and queues those whose tenant has a
/// sampling rate for their feature and whose id hashes below that rate. The choice depends on the call id alone, so a
/// run read twice picks the same calls, and the unique (tenant, call) index queues each once. Each run re-reads
/// <c>Evals:SamplerOverlapSeconds</c> before the watermark: a recorder batch that committed after a later one (its
/// ingest time is its insert's) is still seen. Only successful calls that are not replays, evals or prompt test runs are
/// sampled; input and answer are what the trace store holds (redacted), read through <see cref="IRecordedCallPayloads"/>.
/// </summary>
internal sealed class EvalSamplerJob(KeystoneDbFactory dbFactory, IRecordedCallPayloads payloads, IOptions<EvalsOptions> options, TimeProvider clock,
    ILogger<EvalSamplerJob> log)
{
    public const string RecurringId = "evals:sampler";

    /// <summary>Every five minutes.</summary>
    public const string Cron = "*/5 * * * *";

    /// <summary>The state row's name.</summary>
    public const string StateName = "eval-sampler";

    /// <summary>Calls read per query.</summary>
    public const int BatchSize = 2_000;

    /// <summary>One run reads at most this many calls; the next run continues from its watermark.</summary>
    public const int MaxCallsPerRun = 100_000;

    /// <summary>Features never sampled: the platform's own calls, not a product's.</summary>
    public static readonly IReadOnlySet<string> ExcludedFeatures = new HashSet<string>(StringComparer.Ordinal) { EvalRunJob.Feature, "prompt.test" };

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// True when the call falls in the sample of <paramref name="ratePpm"/> parts per million: the first 8 bytes of the
    /// SHA-256 of its id, modulo one million, below the rate. Deterministic and uniform over ids.
    /// </summary>
    public static bool Selected(Guid callId, int ratePpm)
    {
        if (ratePpm <= 0)
        {
            return false;
        }

        if (ratePpm >= 1_000_000)
        {
            return true;
        }

        Span<byte> id = stackalloc byte[16];
        callId.TryWriteBytes(id);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(id, hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash) % 1_000_000UL < (ulong)ratePpm;
    }

    [DisableConcurrentExecution(60)] // Two instances' runs would only race on the same rows (the unique index keeps them single).
    [AutomaticRetry(Attempts = 0)] // The next run continues from the watermark.
    public async Task<EvalSamplerResult> RunAsync(CancellationToken ct)
    {
        Dictionary<(Guid, string), int> rates;
        EvalSamplerState state;
        await using (var db = dbFactory.ForSystem())
        {
            rates = (await db.EvalSamplingRates.AsNoTracking().Where(r => r.RatePpm > 0).ToListAsync(ct))
                .ToDictionary(r => (r.TenantId, r.Feature), r => r.RatePpm);
            state = await db.EvalSamplerStates.AsNoTracking().SingleOrDefaultAsync(s => s.Name == StateName, ct)
                ?? new EvalSamplerState { Name = StateName };
        }

        var overlap = TimeSpan.FromSeconds(options.Value.SamplerOverlapSeconds);
        DateTime? cursor = state.WatermarkUtc is { } w ? w - overlap : null;
        var watermark = state.WatermarkUtc;
        int read = 0, queued = 0, skipped = 0;
        if (rates.Count == 0)
        {
            // Nothing to sample: move on to the newest call, so a rate set later samples from then on, not the history.
            await using var db = dbFactory.ForSystem();
            watermark = await db.Calls.AsNoTracking().MaxAsync(c => (DateTime?)c.IngestedUtc, ct) ?? watermark;
        }
        else
        {
            while (read < MaxCallsPerRun)
            {
                var (page, full) = await PageAsync(cursor, ct);
                if (page.Count == 0)
                {
                    break;
                }

                read += page.Count;
                var picked = page.Where(c => c.Status == CallStatus.Ok && c.ReplayOfCallId == null && !ExcludedFeatures.Contains(c.Feature)
                        && rates.TryGetValue((c.TenantId, c.Feature), out var ppm) && Selected(c.Id, ppm))
                    .ToList();
                var (q, s) = await QueueAsync(picked, ct);
                queued += q;
                skipped += s;
                cursor = page.Max(c => c.IngestedUtc);
                watermark = watermark is { } old && old > cursor ? old : cursor;
                if (!full)
                {
                    break;
                }
            }
        }

        await SaveStateAsync(watermark, read, queued, ct);
        log.LogInformation("Eval sampler read {Calls} call(s) and queued {Queued} candidate(s)", read, queued);
        return new EvalSamplerResult(read, queued, skipped, watermark);
    }

    private sealed record CallRef(Guid Id, Guid TenantId, Guid TraceId, string Feature, CallStatus Status, Guid? ReplayOfCallId, string? PromptName,
        Guid? PromptVersionId, string Alias, DateTime CreatedUtc, DateTime IngestedUtc);

    /// <summary>
    /// The next calls after <paramref name="after"/> by ingest time. A full page is completed with every call of its last
    /// ingest time (one recorder batch shares it), so the next page can start strictly after it and skip none.
    /// </summary>
    private async Task<(List<CallRef> Page, bool Full)> PageAsync(DateTime? after, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var calls = db.Calls.AsNoTracking();
        var page = await Project(calls.Where(c => after == null || c.IngestedUtc > after).OrderBy(c => c.IngestedUtc).Take(BatchSize)).ToListAsync(ct);
        if (page.Count == BatchSize)
        {
            // A range, not equality: SQLite keeps the time as text whose trailing zeros EF's parameters drop.
            var last = page[^1].IngestedUtc;
            var seen = page.Select(c => c.Id).ToHashSet();
            var upTo = last.AddMilliseconds(1);
            page.AddRange((await Project(calls.Where(c => c.IngestedUtc >= last && c.IngestedUtc < upTo)).ToListAsync(ct)).Where(c => !seen.Contains(c.Id)));
        }

        // Compared again in memory for the same reason: a row exactly at the cursor may come back from SQLite's text comparison.
        var full = page.Count >= BatchSize;
        return (after is { } a ? page.Where(c => c.IngestedUtc > a).ToList() : page, full);
    }

    private static IQueryable<CallRef> Project(IQueryable<LlmCall> calls) => calls.Select(c => new CallRef(c.Id, c.TenantId, c.TraceId, c.Feature, c.Status,
        c.ReplayOfCallId, c.PromptName, c.PromptVersionId, c.Alias, c.CreatedUtc, c.IngestedUtc));

    /// <summary>Queues the picked calls not queued before; a call without a recorded payload or answer is skipped.</summary>
    private async Task<(int Queued, int Skipped)> QueueAsync(List<CallRef> picked, CancellationToken ct)
    {
        if (picked.Count == 0)
        {
            return (0, 0);
        }

        var ids = picked.Select(p => p.Id).ToList();
        HashSet<Guid> known;
        await using (var db = dbFactory.ForSystem())
        {
            known = (await db.EvalCandidates.AsNoTracking().Where(c => ids.Contains(c.CallId)).Select(c => c.CallId).ToListAsync(ct)).ToHashSet();
        }

        var fresh = picked.Where(p => !known.Contains(p.Id)).ToList();
        if (fresh.Count == 0)
        {
            return (0, 0);
        }

        var bodies = await payloads.ReadAsync(fresh.Select(p => p.Id).ToList(), ct);
        var now = clock.GetUtcNow().UtcDateTime;
        var rows = new List<EvalCandidate>();
        var skipped = 0;
        foreach (var call in fresh)
        {
            if (!bodies.TryGetValue(call.Id, out var body) || body.Messages.Count == 0 || string.IsNullOrWhiteSpace(body.Answer))
            {
                skipped++; // Retention removed the payload, or the call answered with tool calls only: nothing to compare an answer with.
                continue;
            }

            rows.Add(new EvalCandidate
            {
                Id = Guid.NewGuid(), TenantId = call.TenantId, CallId = call.Id, TraceId = call.TraceId, Feature = call.Feature,
                PromptName = call.PromptName, PromptVersionId = call.PromptVersionId, Alias = Clip(call.Alias, 128),
                InputJson = JsonSerializer.Serialize(new EvalInputJson(body.Variables is { Count: > 0 } v ? new Dictionary<string, string>(v) : null, body.Messages.ToList()), Json),
                Answer = Clip(body.Answer!, EvalExampleValidation.MaxTextLength), Status = EvalCandidateStatus.Pending,
                CallCreatedUtc = call.CreatedUtc, CreatedUtc = now,
            });
        }

        var queued = 0;
        try
        {
            await using var db = dbFactory.ForSystem();
            db.EvalCandidates.AddRange(rows);
            queued = await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
        {
            // Another run queued some of them meanwhile: add one by one, each conflict being a call already queued.
            queued = 0;
            foreach (var row in rows)
            {
                try
                {
                    await using var db = dbFactory.ForSystem();
                    db.EvalCandidates.Add(row);
                    queued += await db.SaveChangesAsync(ct);
                }
                catch (DbUpdateException one) when (WriteConflicts.IsConflict(one))
                {
                }
            }
        }

        return (queued, skipped);
    }

    private async Task SaveStateAsync(DateTime? watermark, int read, int queued, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var row = await db.EvalSamplerStates.SingleOrDefaultAsync(s => s.Name == StateName, ct);
        if (row is null)
        {
            row = new EvalSamplerState { Name = StateName };
            db.EvalSamplerStates.Add(row);
        }

        // Never backwards: a slower concurrent run finishing last keeps the further watermark.
        if (watermark is { } w && (row.WatermarkUtc is null || w > row.WatermarkUtc))
        {
            row.WatermarkUtc = w;
        }

        row.LastRunUtc = clock.GetUtcNow().UtcDateTime;
        row.LastRunCalls = read;
        row.LastRunQueued = queued;
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
        {
            // A concurrent first run inserted the row; its watermark stands, the next run moves it on.
        }
    }

    private static string Clip(string text, int max) => text.Length > max ? text[..max] : text;
}
