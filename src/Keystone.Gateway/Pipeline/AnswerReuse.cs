using Keystone.Data.Calls;
using Keystone.Gateway.Caching;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>Embeds a question for the semantic cache's lookup: its own recorded call, not counted against the rate limit again.</summary>
internal delegate Task<EmbeddingResult> LookupEmbedder(EmbeddingRequest request, CallContext context, CancellationToken ct);

/// <summary>
/// Answers given before and given again without a provider: the idempotency key's first result, the exact cache and
/// the semantic cache (step 5). Looks them up before the provider chain and stores a successful answer after it.
/// </summary>
internal sealed partial class AnswerReuse(
    ExactCache cache,
    SemanticCache semanticCache,
    IdempotencyStore idempotency,
    IOptionsMonitor<GatewayOptions> options,
    ILogger<AnswerReuse> log)
{
    /// <summary>
    /// Claims the call's idempotency key, if it has one. Returns the first call's result when that call completed;
    /// refuses while it is still running.
    /// </summary>
    public async Task<IdempotentResult?> ClaimAsync(CallState s, CancellationToken ct)
    {
        if (s.Context.IdempotencyKey is not { Length: > 0 } key)
        {
            return null;
        }

        if (key.Length > 256)
        {
            throw new GatewayException(new GatewayError(GatewayErrorCodes.InvalidRequest, "The idempotency key is longer than 256 characters.",
                400, Param: "idempotency_key"));
        }

        var (claim, first) = await idempotency.ClaimAsync(s.Context.TenantId, key, s.CallId, ct);
        if (claim == IdempotencyClaim.Completed)
        {
            return first!;
        }

        if (claim == IdempotencyClaim.InProgress)
        {
            throw new GatewayException(new GatewayError(GatewayErrorCodes.IdempotencyInProgress,
                "A request with this Idempotency-Key is still in progress; retry once it has finished.", 409, TimeSpan.FromSeconds(1),
                Param: "idempotency_key"));
        }

        s.IdempotencyClaimed = true;
        return null;
    }

    /// <summary>A cached answer for this request: the exact cache first, then (when the feature opts in) the semantic cache.</summary>
    public async Task<(CacheHit Hit, CacheStatus Status)?> FindAsync(CallState s, LookupEmbedder embed, CancellationToken ct)
    {
        var feature = options.CurrentValue.FeatureFor(s.Snapshot, s.Context.Feature);
        if (ExactCache.Applies(s.Request, feature))
        {
            s.CacheKey = ExactCache.Key(s.Context.TenantId, s.Resolved!.Alias, s.Request, s.Context.PromptVersionId);
            if (await cache.GetAsync(s.Context.TenantId, s.CacheKey, ct) is { } exact)
            {
                return (exact, CacheStatus.Exact);
            }
        }

        if (SemanticCache.ThresholdFor(s.Request, feature) is { } threshold
            && await LookUpSemanticAsync(s, threshold, embed, ct) is { } similar)
        {
            return (similar, CacheStatus.Semantic);
        }

        return null;
    }

    /// <summary>
    /// Embeds the last user message (its own recorded, charged call: the same tenant, key, feature and request id,
    /// not counted against the rate limit a second time, nor as a call of the prompt) and looks for a cached answer of this context close enough
    /// in meaning. A failed embedding is a miss, never a failed call; a miss remembers the embedding so the answer is
    /// stored.
    /// </summary>
    private async Task<CacheHit?> LookUpSemanticAsync(CallState s, double threshold, LookupEmbedder embed, CancellationToken ct)
    {
        var question = SemanticCache.QuestionOf(s.Request)!;
        var alias = options.CurrentValue.SemanticCacheAlias;
        EmbeddingResult embedded;
        try
        {
            embedded = await embed(new EmbeddingRequest { Model = alias, Inputs = [question] },
                s.Context with { TraceId = null, IdempotencyKey = null, ReplayOfCallId = null, PromptName = null, PromptVersionId = null }, ct);
        }
        catch (GatewayException ex)
        {
            LogSemanticEmbedFailed(log, alias, ex.Error.Code);
            return null;
        }

        var vector = embedded.Vectors[0];
        var model = $"{embedded.Outcome.Provider}/{embedded.Outcome.Model}";
        var key = SemanticCache.ContextKey(s.Context.TenantId, s.Resolved!.Alias, s.Request, s.Context.PromptVersionId, model);
        var hit = await semanticCache.FindAsync(s.Context.TenantId, key, model, vector, threshold, ct);
        if (hit is null)
        {
            s.Semantic = (key, question, vector, model);
        }

        return hit;
    }

    /// <summary>Stores a successful answer for the caches and the idempotency key (only where they apply).</summary>
    public async Task RememberAsync(CallState s, CachedAnswer answer, CallOutcome outcome, CancellationToken ct)
    {
        if (s.CacheKey is not null && answer.FinishReason != "length")
        {
            await cache.PutAsync(s.Context.TenantId, s.CacheKey, s.Resolved!.Alias, outcome.Provider, outcome.Model, answer, outcome.CostMicros, s.CallId, ct);
        }

        // A cut-off answer or one that calls tools is not served to a paraphrase.
        if (s.Semantic is { } semantic && answer.FinishReason != "length" && answer.ToolCalls.Count == 0)
        {
            await semanticCache.PutAsync(s.Context.TenantId, semantic.Key, semantic.Question, semantic.Vector, semantic.EmbeddingModel,
                s.Resolved!.Alias, outcome.Provider,
                outcome.Model, answer, outcome.CostMicros, s.CallId, ct);
        }

        await CompleteIdempotencyAsync(s, answer, outcome);
    }

    /// <summary>Remembers the answer under the call's idempotency key, when it holds the claim.</summary>
    public async Task CompleteIdempotencyAsync(CallState s, CachedAnswer answer, CallOutcome outcome)
    {
        if (s.IdempotencyClaimed && s.Context.IdempotencyKey is { Length: > 0 } key)
        {
            s.IdempotencyClaimed = false;
            await idempotency.CompleteAsync(s.Context.TenantId, key, new IdempotentResult(answer, outcome), CancellationToken.None);
        }
    }

    /// <summary>Gives up the claim of a call that did not succeed: only a success is remembered, so the caller's retry runs again.</summary>
    public async Task ReleaseIdempotencyAsync(CallState s)
    {
        if (s.IdempotencyClaimed && s.Context.IdempotencyKey is { Length: > 0 } key)
        {
            s.IdempotencyClaimed = false;
            await idempotency.ReleaseAsync(s.Context.TenantId, key, s.CallId, CancellationToken.None);
        }
    }

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Semantic cache lookup skipped: embedding with {Alias} failed ({Code})")]
    private static partial void LogSemanticEmbedFailed(ILogger log, string alias, string code);
}
