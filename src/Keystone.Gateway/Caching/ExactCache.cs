using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Caching;

/// <summary>
/// The exact cache (pipeline step 5): answers keyed by SHA-256 of a canonical JSON of tenant, alias, normalized
/// messages, tools, response format, sampling parameters and prompt version; the tenant is in the key and in the
/// row (tenant-owned table under RLS), so an entry is never served to another tenant.
/// </summary>
internal sealed class ExactCache(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Whether this request uses the cache: the request's flag, else the feature's setting (the tenant's own, else the
    /// platform's, <see cref="GatewayOptions.FeatureFor"/>) or the temperature-0 rule.
    /// </summary>
    public static bool Applies(ChatRequest request, FeatureOptions? feature)
    {
        if (request.Cache is { } explicitChoice)
        {
            return explicitChoice;
        }

        return feature?.Cache == true || (request.Temperature == 0 && (feature?.CacheAtTemperatureZero ?? true));
    }

    public static string Key(Guid tenantId, string alias, ChatRequest r, Guid? promptVersionId)
    {
        var canonical = new
        {
            v = 1,
            tenant = tenantId,
            alias = alias.ToLowerInvariant(),
            messages = r.Messages.Select(m => new
            {
                role = m.Role.ToLowerInvariant(),
                content = Normalize(m.Content),
                name = m.Name,
                toolCallId = m.ToolCallId,
                toolCalls = m.ToolCalls?.Select(t => new { t.Id, t.Name, t.ArgumentsJson }),
            }),
            tools = r.Tools?.Select(t => new { t.Name, t.Description, parameters = t.Parameters?.GetRawText() }),
            toolChoice = r.ToolChoice?.GetRawText(),
            responseFormat = r.ResponseFormat is { } f ? new { f.Type, f.SchemaName, schema = f.Schema?.GetRawText(), f.Strict } : null,
            r.Temperature,
            r.TopP,
            r.MaxTokens,
            r.Stop,
            r.Seed,
            r.FrequencyPenalty,
            r.PresencePenalty,
            r.ReasoningEffort,
            r.ParallelToolCalls,
            promptVersionId,
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(canonical, Json);
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    public async Task<CacheHit?> GetAsync(Guid tenantId, string key, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(tenantId);
        var row = await db.ExactCache.AsNoTracking()
            .Where(e => e.TenantId == tenantId && e.Key == key && e.ExpiresUtc > now)
            .Select(e => new { e.ResponseJson, e.CostMicros, e.SourceCallId, e.Provider, e.Model }).FirstOrDefaultAsync(ct);
        if (row is null)
        {
            return null;
        }

        var answer = JsonSerializer.Deserialize<CachedAnswer>(row.ResponseJson, Json);
        return answer is null ? null : new CacheHit(answer, row.CostMicros, row.SourceCallId, row.Provider, row.Model);
    }

    public async Task PutAsync(Guid tenantId, string key, string alias, string? provider, string? model, CachedAnswer answer,
        long costMicros, Guid sourceCallId, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var expires = now + options.CurrentValue.CacheTtl;
        var json = JsonSerializer.Serialize(answer, Json);
        await using var db = dbFactory.ForTenant(tenantId);
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO exact_cache_entries (tenant_id, key, alias, provider, model, response_json, cost_micros, source_call_id, created_utc, expires_utc)
            VALUES ({tenantId}, {key}, {alias}, {provider}, {model}, {json}, {costMicros}, {sourceCallId}, {now}, {expires})
            ON CONFLICT (tenant_id, key) DO UPDATE SET response_json = excluded.response_json, cost_micros = excluded.cost_micros,
                provider = excluded.provider, model = excluded.model, source_call_id = excluded.source_call_id,
                created_utc = excluded.created_utc, expires_utc = excluded.expires_utc
            """, ct);
    }

    /// <summary>Line endings unified and trailing whitespace dropped: they do not change what a model answers.</summary>
    private static string? Normalize(string? content) => content?.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd();

    internal static JsonSerializerOptions JsonOptions => Json;
}
