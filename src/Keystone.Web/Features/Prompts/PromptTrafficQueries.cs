using Keystone.Data;
using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Prompts;

/// <summary>
/// The real traffic of managed prompts, read from <c>llm_calls</c> across every tenant. Only aggregates leave here
/// (counts, tokens, cost), never a tenant's content, so platform prompt editors may see them (decision 15).
/// </summary>
internal sealed class PromptTrafficQueries(KeystoneDbFactory dbFactory, TimeProvider clock)
{
    // REVIEW: both reads filter llm_calls by created_utc (indexed) and then by prompt; add an index on
    // (prompt_version_id, created_utc) if prompt traffic grows past a few hundred thousand calls a week.

    /// <summary>Calls of one version over the last <paramref name="days"/> days (every status, cache hits included).</summary>
    public async Task<PromptTraffic> VersionAsync(Guid versionId, int days, CancellationToken ct)
    {
        var from = clock.GetUtcNow().UtcDateTime.AddDays(-days);
        await using var db = dbFactory.ForSystem();
        return await SumAsync(db.Calls.AsNoTracking().Where(c => c.PromptVersionId == versionId && c.CreatedUtc >= from), days, ct);
    }

    /// <summary>
    /// Calls of every version of a prompt over the last <paramref name="days"/> days that reached a provider (gateway
    /// cache hits send nothing, so a provider's prompt cache could not have saved anything on them).
    /// </summary>
    public async Task<PromptTraffic> ProviderCallsAsync(string promptName, int days, CancellationToken ct)
    {
        var from = clock.GetUtcNow().UtcDateTime.AddDays(-days);
        var slug = PromptCatalog.Slug(promptName);
        await using var db = dbFactory.ForSystem();
        return await SumAsync(db.Calls.AsNoTracking().Where(c => c.PromptName == slug && c.CreatedUtc >= from && c.CacheStatus == CacheStatus.None
            && c.Status != CallStatus.Rejected), days, ct);
    }

    private static async Task<PromptTraffic> SumAsync(IQueryable<LlmCall> calls, int days, CancellationToken ct)
    {
        var row = await calls.GroupBy(_ => 1)
            .Select(g => new { Calls = g.Count(), Cost = g.Sum(c => c.CostMicros), Input = g.Sum(c => (long)c.InputTokens), Cached = g.Sum(c => (long)c.CachedInputTokens) })
            .FirstOrDefaultAsync(ct);
        return row is null ? PromptTraffic.None(days) : new PromptTraffic(row.Calls, row.Cost, row.Input, row.Cached, days);
    }
}
