using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Data.Calls;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Credentials;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Routing;
using Keystone.Gateway.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// The one way Keystone calls a model (a request's path: docs/architecture.md). Streaming and non-streaming calls take the same
/// steps: context, alias resolution, rate limits, idempotency, budget reservation, exact cache, provider chain
/// (timeout, fallback, circuit breaker), settle, record, metrics.
/// </summary>
/// <remarks>
/// Idempotency is checked before the budget (a replay of a paid result costs nothing and must not be refused
/// for a cap), and the cache after it; a cache hit releases its reservation.
/// </remarks>
internal sealed partial class LlmGateway(
    ProviderDirectory providers,
    AliasResolver resolver,
    TenantSettings settings,
    RequestRateLimiter rateLimiter,
    BudgetLedger ledger,
    ExactCache cache,
    SemanticCache semanticCache,
    IdempotencyStore idempotency,
    CircuitBreakers circuits,
    CallRecorder recorder,
    IGatewayPricing pricing,
    IPromptTokenCounter tokens,
    ProviderCredentialStore credentials,
    GatewayTelemetry telemetry,
    KeystoneDbFactory dbFactory,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock,
    ILogger<LlmGateway> log) : ILlmGateway
{
    private readonly ConcurrentDictionary<string, bool> _unknownPriceAlerted = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Delta size when a cached or idempotent answer is replayed as a stream.</summary>
    private const int ReplayChunkChars = 24;

    public async Task<ChatResult> CompleteAsync(ChatRequest request, CallContext context, CancellationToken ct)
    {
        var s = Begin(request, context, streamed: false);
        try
        {
            var shortcut = await PrepareAsync(s, ct);
            if (shortcut is not null)
            {
                return new ChatResult(shortcut.Answer.Text, shortcut.Answer.ToolCalls, shortcut.Answer.FinishReason, shortcut.Answer.Usage,
                    shortcut.Outcome);
            }

            ProviderChatResponse response;
            try
            {
                response = await RunChainAsync(s, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                await FinishAsync(s, CallStatus.Cancelled, EstimateUsage(s, ""), estimated: true, new CachedAnswer("", [], "cancelled", Usage.Zero),
                    GatewayErrorCodes.Cancelled);
                throw;
            }
            catch (GatewayException ex)
            {
                var failed = await FinishAsync(s, CallStatus.Error, Usage.Zero, estimated: false, null, ex.Error.Code);
                throw new GatewayException(ex.Error, failed);
            }

            var answer = new CachedAnswer(response.Text, response.ToolCalls, response.FinishReason, response.Usage);
            var outcome = await FinishAsync(s, CallStatus.Ok, response.Usage, estimated: false, answer, null);
            await RememberAsync(s, answer, outcome, CancellationToken.None);
            return new ChatResult(answer.Text, answer.ToolCalls, answer.FinishReason, answer.Usage, outcome);
        }
        catch (Exception ex) when (!s.Recorded)
        {
            // Cancelled or failed between steps (a database error, say): release the reservation and record the call.
            var cancelled = ex is OperationCanceledException && ct.IsCancellationRequested;
            await FinishAsync(s, cancelled ? CallStatus.Cancelled : CallStatus.Error, Usage.Zero, estimated: cancelled, null,
                cancelled ? GatewayErrorCodes.Cancelled : GatewayErrorCodes.UpstreamError);
            throw;
        }
        finally
        {
            s.Activity?.Dispose();
        }
    }

    public async IAsyncEnumerable<ChatStreamEvent> StreamAsync(ChatRequest request, CallContext context,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var s = Begin(request, context, streamed: true);
        var text = new StringBuilder();
        var tools = new ToolCallAccumulator();
        var finish = "stop";
        Usage? usage = null;
        try
        {
            var shortcut = await PrepareAsync(s, ct);
            if (shortcut is not null)
            {
                yield return new StreamStarted(shortcut.Outcome.CallId, shortcut.Outcome.TraceId, shortcut.Outcome.Provider ?? "cache",
                    shortcut.Outcome.Model ?? "") { RateLimit = s.RateLimit, CacheStatus = shortcut.Outcome.CacheStatus, CacheSimilarity = shortcut.Outcome.CacheSimilarity };
                foreach (var e in Replay(shortcut.Answer))
                {
                    yield return e;
                }

                yield return new StreamCompleted(new ChatResult(shortcut.Answer.Text, shortcut.Answer.ToolCalls, shortcut.Answer.FinishReason,
                    shortcut.Answer.Usage, shortcut.Outcome));
                yield break;
            }

            var targets = s.Resolved!.Targets;
            var firstSent = false;
            for (var i = 0; i < targets.Count; i++)
            {
                var target = targets[i];
                var retried = false;
                var retry = true;
                while (retry && TryStartAttempt(s, target, out var provider))
                {
                    retry = false;
                    var creds = await CredentialsForAsync(s, target, ct);
                    using var attemptActivity = StartAttemptActivity(s, target);
                    using var timeout = new CancellationTokenSource(options.CurrentValue.AttemptTimeout, clock);
                    using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
                    var attemptStart = clock.GetTimestamp();
                    var stream = provider.StreamAsync(new ProviderChatRequest(target.Model, s.Request, s.MaxTokens, creds), linked.Token)
                        .GetAsyncEnumerator(linked.Token);
                    var ended = false;
                    try
                    {
                        while (true)
                        {
                            var t0 = clock.GetTimestamp();
                            var (has, error) = await NextAsync(stream);
                            s.ExternalTicks += clock.GetTimestamp() - t0;
                            if (error is not null)
                            {
                                ended = true;
                                var failure = Classify(error, timeout, ct);
                                s.Attempts.Add(new Attempt(target.Provider, target.Model, failure.Outcome, failure.Status, failure.Message,
                                    ElapsedMs(attemptStart)));
                                attemptActivity?.SetStatus(ActivityStatusCode.Error, failure.Outcome);
                                if (failure.CallerCancelled)
                                {
                                    circuits.Abandon(target);
                                    await FinishAsync(s, CallStatus.Cancelled, EstimateUsage(s, text.ToString() + tools.ArgumentsText), estimated: true,
                                        new CachedAnswer(text.ToString(), tools.Build(), "cancelled", Usage.Zero), GatewayErrorCodes.Cancelled);
                                    throw new OperationCanceledException(ct);
                                }

                                if (firstSent)
                                {
                                    // Tokens reached the caller: never fall back (the answer would be spliced), never end silently.
                                    circuits.Failure(target);
                                    var partial = new CachedAnswer(text.ToString(), tools.Build(), "incomplete", Usage.Zero);
                                    var incomplete = await FinishAsync(s, CallStatus.Incomplete,
                                        usage ?? EstimateUsage(s, text.ToString() + tools.ArgumentsText), estimated: usage is null, partial,
                                        GatewayErrorCodes.StreamInterrupted);
                                    yield return new StreamFailed(new GatewayError(GatewayErrorCodes.StreamInterrupted,
                                        $"The stream from {target} failed after the answer started: {failure.Message}", 502), incomplete);
                                    yield break;
                                }

                                if (!failure.Retryable)
                                {
                                    circuits.Success(target);
                                    var err = UpstreamRequestError(target, failure);
                                    var rejected = await FinishAsync(s, CallStatus.Error, Usage.Zero, estimated: false, null, err.Code);
                                    throw new GatewayException(err, rejected);
                                }

                                circuits.Failure(target);
                                retry = ShouldRetrySameTarget(failure, retried, i, targets.Count);
                                retried |= retry;
                                break;
                            }

                            if (!has)
                            {
                                ended = true;
                                circuits.Success(target);
                                s.Attempts.Add(new Attempt(target.Provider, target.Model, "ok", null, null, ElapsedMs(attemptStart)));
                                s.FellBack = i > 0;
                                var answer = new CachedAnswer(text.ToString(), tools.Build(), finish, usage ?? Usage.Zero);
                                var final = usage ?? EstimateUsage(s, answer.Text + tools.ArgumentsText);
                                answer = answer with { Usage = final };
                                var outcome = await FinishAsync(s, CallStatus.Ok, final, estimated: usage is null, answer, null);
                                await RememberAsync(s, answer, outcome, CancellationToken.None);
                                yield return new StreamCompleted(new ChatResult(answer.Text, answer.ToolCalls, answer.FinishReason, final, outcome));
                                yield break;
                            }

                            ChatStreamEvent? output = null;
                            switch (stream.Current)
                            {
                                case ProviderTextDelta d:
                                    text.Append(d.Text);
                                    output = new TextDelta(d.Text);
                                    break;
                                case ProviderToolCallDelta d:
                                    tools.Add(d);
                                    output = new ToolCallDelta(d.Index, d.Id, d.Name, d.ArgumentsFragment);
                                    break;
                                case ProviderUsage u:
                                    usage = u.Usage;
                                    break;
                                case ProviderFinish f:
                                    finish = f.FinishReason;
                                    break;
                            }

                            if (output is null)
                            {
                                continue;
                            }

                            var y0 = clock.GetTimestamp();
                            if (!firstSent)
                            {
                                // The first token is out: the attempt timeout no longer applies, and no fallback may follow.
                                firstSent = true;
                                timeout.CancelAfter(Timeout.InfiniteTimeSpan);
                                s.Target = target;
                                s.FellBack = i > 0;
                                s.TtftMs = ElapsedMs(s.StartTimestamp);
                                yield return new StreamStarted(s.CallId, s.TraceId, target.Provider, target.Model) { RateLimit = s.RateLimit };
                            }

                            yield return output;
                            s.ExternalTicks += clock.GetTimestamp() - y0;
                        }
                    }
                    finally
                    {
                        if (!ended)
                        {
                            // The caller stopped reading: abort the upstream request before releasing it.
                            await linked.CancelAsync();
                        }

                        await stream.DisposeAsync();
                    }
                }
            }

            var unavailable = Unavailable(s);
            var outcomeFailed = await FinishAsync(s, CallStatus.Error, Usage.Zero, estimated: false, null, unavailable.Code);
            throw new GatewayException(unavailable, outcomeFailed);
        }
        finally
        {
            if (!s.Recorded)
            {
                // The caller disposed the stream early (or cancelled between events): recorded cancelled, estimated.
                if (s.Target is { } t)
                {
                    circuits.Abandon(t);
                }

                await FinishAsync(s, CallStatus.Cancelled, EstimateUsage(s, text.ToString() + tools.ArgumentsText), estimated: true,
                    new CachedAnswer(text.ToString(), tools.Build(), "cancelled", Usage.Zero), GatewayErrorCodes.Cancelled);
            }

            s.Activity?.Dispose();
        }
    }

    public Task<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CallContext context, CancellationToken ct)
        => EmbedCoreAsync(request, context, countRateLimit: true, ct);

    // countRateLimit is false for the semantic cache's lookup: the request it serves was counted already.
    private async Task<EmbeddingResult> EmbedCoreAsync(EmbeddingRequest request, CallContext context, bool countRateLimit, CancellationToken ct)
    {
        if (request.Inputs is null || request.Inputs.Count == 0)
        {
            throw new GatewayException(new GatewayError(GatewayErrorCodes.InvalidRequest, "input must not be empty.", 400, Param: "input"));
        }

        var chat = new ChatRequest { Model = request.Model, Messages = [.. request.Inputs.Select(i => new ChatMessage("user", i))], MaxTokens = 1 };
        var s = Begin(chat, context, streamed: false);
        try
        {
            var snapshot = s.Snapshot = await settings.GetAsync(context.TenantId, ct);
            try
            {
                s.Resolved = resolver.Resolve(request.Model, snapshot);
                if (countRateLimit)
                {
                    CheckRateLimits(s);
                }

                s.PromptTokens = request.Inputs.Sum(tokens.CountText);
                s.MaxTokens = 0;
                await ReserveAsync(s, ct);
            }
            catch (GatewayException ex)
            {
                throw new GatewayException(ex.Error, await RecordRejectionAsync(s, ex.Error));
            }

            foreach (var target in s.Resolved.Targets)
            {
                if (!TryStartAttempt(s, target, out var provider))
                {
                    continue;
                }

                var creds = await CredentialsForAsync(s, target, ct);
                var started = clock.GetTimestamp();
                using var timeout = new CancellationTokenSource(options.CurrentValue.AttemptTimeout, clock);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
                try
                {
                    var response = await provider.EmbedAsync(target.Model, request.Inputs, request.Dimensions, creds, linked.Token);
                    s.ExternalTicks += clock.GetTimestamp() - started;
                    circuits.Success(target);
                    s.Attempts.Add(new Attempt(target.Provider, target.Model, "ok", null, null, ElapsedMs(started)));
                    s.Target = target;
                    s.FellBack = target != s.Resolved.Targets[0];
                    var outcome = await FinishAsync(s, CallStatus.Ok, response.Usage, estimated: false, null, null);
                    return new EmbeddingResult(response.Vectors, response.Usage, outcome);
                }
                catch (Exception ex)
                {
                    s.ExternalTicks += clock.GetTimestamp() - started;
                    var failure = Classify(ex, timeout, ct);
                    s.Attempts.Add(new Attempt(target.Provider, target.Model, failure.Outcome, failure.Status, failure.Message, ElapsedMs(started)));
                    if (failure.CallerCancelled)
                    {
                        circuits.Abandon(target);
                        await FinishAsync(s, CallStatus.Cancelled, new Usage(s.PromptTokens ?? 0, 0), estimated: true, null, GatewayErrorCodes.Cancelled);
                        throw;
                    }

                    if (!failure.Retryable)
                    {
                        circuits.Success(target);
                        var err = UpstreamRequestError(target, failure);
                        throw new GatewayException(err, await FinishAsync(s, CallStatus.Error, Usage.Zero, estimated: false, null, err.Code));
                    }

                    circuits.Failure(target);
                }
            }

            var unavailable = Unavailable(s);
            throw new GatewayException(unavailable, await FinishAsync(s, CallStatus.Error, Usage.Zero, estimated: false, null, unavailable.Code));
        }
        finally
        {
            s.Activity?.Dispose();
        }
    }

    public async Task<IReadOnlyList<ModelInfo>> ModelsAsync(Guid tenantId, CancellationToken ct)
        => resolver.List(await settings.GetAsync(tenantId, ct));

    private CallState Begin(ChatRequest request, CallContext context, bool streamed)
    {
        var s = new CallState(request, context, streamed, clock.GetTimestamp(), clock.GetUtcNow().UtcDateTime);
        s.Activity = GatewayTelemetry.Activities.StartActivity(streamed ? "gateway.chat.stream" : "gateway.chat");
        if (s.Activity is { } a)
        {
            a.SetTag("keystone.tenant_id", context.TenantId);
            a.SetTag("keystone.feature", context.Feature);
            a.SetTag("keystone.call_id", s.CallId);
            a.SetTag("keystone.trace_id", s.TraceId);
            a.SetTag("gen_ai.request.model", request.Model);
        }

        return s;
    }

    /// <summary>Steps 1–6. Returns an answer when idempotency or the cache answers; throws (recorded) when refused.</summary>
    private async Task<Shortcut?> PrepareAsync(CallState s, CancellationToken ct)
    {
        try
        {
            Validate(s.Request);
            var snapshot = s.Snapshot = await settings.GetAsync(s.Context.TenantId, ct);
            s.Resolved = resolver.Resolve(s.Request.Model, snapshot);
            s.MaxTokens = s.Request.MaxTokens ?? options.CurrentValue.DefaultMaxTokens;
            CheckRateLimits(s);

            if (s.Context.IdempotencyKey is { Length: > 0 } key)
            {
                if (key.Length > 256)
                {
                    throw new GatewayException(new GatewayError(GatewayErrorCodes.InvalidRequest, "The idempotency key is longer than 256 characters.",
                        400, Param: "idempotency_key"));
                }

                var (claim, first) = await idempotency.ClaimAsync(s.Context.TenantId, key, s.CallId, ct);
                if (claim == IdempotencyClaim.Completed)
                {
                    // The same call again: nothing new is recorded or charged.
                    s.Recorded = true;
                    return new Shortcut(first!.Answer, first.Outcome);
                }

                if (claim == IdempotencyClaim.InProgress)
                {
                    throw new GatewayException(new GatewayError(GatewayErrorCodes.IdempotencyInProgress,
                        "A request with this Idempotency-Key is still in progress; retry once it has finished.", 409, TimeSpan.FromSeconds(1),
                        Param: "idempotency_key"));
                }

                s.IdempotencyClaimed = true;
            }

            await ReserveAsync(s, ct);

            var feature = options.CurrentValue.FeatureFor(s.Snapshot, s.Context.Feature);
            if (ExactCache.Applies(s.Request, feature))
            {
                s.CacheKey = ExactCache.Key(s.Context.TenantId, s.Resolved.Alias, s.Request, s.Context.PromptVersionId);
                if (await cache.GetAsync(s.Context.TenantId, s.CacheKey, ct) is { } exact)
                {
                    return await ServeFromCacheAsync(s, exact, CacheStatus.Exact);
                }
            }

            if (SemanticCache.ThresholdFor(s.Request, feature) is { } threshold
                && await LookUpSemanticAsync(s, threshold, ct) is { } similar)
            {
                return await ServeFromCacheAsync(s, similar, CacheStatus.Semantic);
            }

            return null;
        }
        catch (GatewayException ex) when (!s.Recorded)
        {
            throw new GatewayException(ex.Error, await RecordRejectionAsync(s, ex.Error));
        }
    }

    /// <summary>A cache hit settles at $0 with the original cost recorded as saved, and names its source.</summary>
    private async Task<Shortcut> ServeFromCacheAsync(CallState s, CacheHit hit, CacheStatus status)
    {
        s.CacheHit = hit;
        var outcome = await FinishAsync(s, CallStatus.Ok, hit.Answer.Usage, estimated: false, hit.Answer, null, status, hit.CostMicros);
        await CompleteIdempotencyAsync(s, hit.Answer, outcome);
        return new Shortcut(hit.Answer, outcome);
    }

    /// <summary>
    /// Embeds the last user message (its own recorded, charged call: the same tenant, key, feature and request id,
    /// not counted against the rate limit a second time, nor as a call of the prompt) and looks for a cached answer of this context close enough
    /// in meaning. A failed embedding is a miss, never a failed call; a miss remembers the embedding so the answer is
    /// stored.
    /// </summary>
    private async Task<CacheHit?> LookUpSemanticAsync(CallState s, double threshold, CancellationToken ct)
    {
        var question = SemanticCache.QuestionOf(s.Request)!;
        var alias = options.CurrentValue.SemanticCacheAlias;
        EmbeddingResult embedded;
        try
        {
            embedded = await EmbedCoreAsync(new EmbeddingRequest { Model = alias, Inputs = [question] },
                s.Context with { TraceId = null, IdempotencyKey = null, ReplayOfCallId = null, PromptName = null, PromptVersionId = null }, countRateLimit: false, ct);
        }
        catch (GatewayException ex)
        {
            LogSemanticEmbedFailed(log, alias, ex.Error.Code);
            return null;
        }

        var vector = embedded.Vectors[0];
        var key = SemanticCache.ContextKey(s.Context.TenantId, s.Resolved!.Alias, s.Request, s.Context.PromptVersionId,
            $"{embedded.Outcome.Provider}/{embedded.Outcome.Model}");
        var hit = await semanticCache.FindAsync(s.Context.TenantId, key, vector, threshold, ct);
        if (hit is null)
        {
            s.Semantic = (key, question, vector);
        }

        return hit;
    }

    private static void Validate(ChatRequest r)
    {
        if (r.Messages is null || r.Messages.Count == 0)
        {
            throw Invalid("messages must contain at least one message.", "messages");
        }

        if (r.MaxTokens is < 1)
        {
            throw Invalid("max_tokens must be at least 1.", "max_tokens");
        }

        if (r.Temperature is < 0 or > 2)
        {
            throw Invalid("temperature must be between 0 and 2.", "temperature");
        }

        if (r.TopP is < 0 or > 1)
        {
            throw Invalid("top_p must be between 0 and 1.", "top_p");
        }

        static GatewayException Invalid(string message, string param)
            => new(new GatewayError(GatewayErrorCodes.InvalidRequest, message, 400, Param: param));
    }

    private void CheckRateLimits(CallState s)
    {
        var o = options.CurrentValue;
        var tenant = s.Context.TenantId;
        if (s.Context.ApiKeyId is { } keyId)
        {
            var limit = (s.Snapshot!.ApiKeyRequestsPerMinute.GetValueOrDefault(keyId) ?? s.Snapshot.PlanRequestsPerMinute) ?? o.ApiKeyRequestsPerMinute;
            var allowed = rateLimiter.TryAcquire($"k:{tenant:N}:{keyId:N}", limit, out var state);
            // The key's window is what its holder can act on (OpenAI's x-ratelimit-* headers): every answer carries it.
            s.RateLimit = state;
            if (!allowed)
            {
                throw RateLimited($"This API key's limit of {limit} requests per minute is reached.", state.Reset);
            }
        }

        if ((s.Context.UserId ?? s.Context.EndUser) is { } user)
        {
            var limit = o.UserRequestsPerMinute;
            if (!rateLimiter.TryAcquire($"u:{tenant:N}:{user}", limit, out var state))
            {
                throw RateLimited($"The limit of {limit} requests per minute for user '{user}' is reached.", state.Reset);
            }
        }

        // The headers of a refusal describe the key's window too (not the user's), so a client reads one limit throughout.
        GatewayException RateLimited(string message, TimeSpan retry)
            => new(new GatewayError(GatewayErrorCodes.RateLimitExceeded, message, 429, retry) { RateLimit = s.RateLimit });
    }

    /// <summary>Step 4: the worst case reserved on every applicable cap; at the limit, block or degrade to the cheaper alias.</summary>
    private async Task ReserveAsync(CallState s, CancellationToken ct)
    {
        if (s.BilledTo == BilledTo.Support)
        {
            return;
        }

        var caps = BudgetLedger.Applicable(s.Snapshot!, s.Context);
        if (caps.Count == 0)
        {
            return;
        }

        var (reservation, rejection) = await ledger.ReserveAsync(s.Context.TenantId, caps, await WorstCaseAsync(s, ct), ct);
        if (reservation is null && s.Snapshot!.ActionAtLimit == BudgetAction.Degrade
            && options.CurrentValue.DegradeTo.TryGetValue(s.Resolved!.Alias, out var cheaper))
        {
            ResolvedModel? degraded = null;
            try
            {
                degraded = resolver.Resolve(cheaper, s.Snapshot);
            }
            catch (GatewayException)
            {
                // The cheaper alias is not allowed for this tenant: the cap blocks.
            }

            if (degraded is not null)
            {
                var original = s.Resolved;
                s.Resolved = degraded;
                (reservation, rejection) = await ledger.ReserveAsync(s.Context.TenantId, caps, await WorstCaseAsync(s, ct), ct);
                if (reservation is null)
                {
                    s.Resolved = original;
                }
                else
                {
                    LogDegraded(log, s.Context.TenantId, original.Alias, degraded.Alias);
                    s.Activity?.SetTag("keystone.degraded_to", degraded.Alias);
                }
            }
        }

        if (reservation is null)
        {
            var r = rejection!;
            var key = r.Cap.Key.Length == 0 ? "" : $" '{r.Cap.Key}'";
            throw new GatewayException(new GatewayError(GatewayErrorCodes.BudgetExceeded,
                $"Budget exceeded: the {BudgetText.Of(r.Cap.Scope)}{key} {BudgetText.Of(r.Cap.Period)} cap of {BudgetText.Usd(r.Cap.LimitMicros)} " +
                $"({r.Cap.LimitMicros} micro-USD) would be passed; spent so far {BudgetText.Usd(r.SpentMicros)} ({r.SpentMicros} micro-USD)" +
                $"{(r.ReservedMicros > 0 ? $", {r.ReservedMicros} micro-USD reserved by calls in flight" : "")}; it resets at {r.ResetsAtUtc:yyyy-MM-ddTHH:mm:ssZ}.",
                429, r.ResetsAtUtc - clock.GetUtcNow().UtcDateTime));
        }

        s.Reservation = reservation;
    }

    /// <summary>Prompt tokens × input price + max tokens × output price, for the dearest target of the chain (a fallback may answer).</summary>
    private async Task<long> WorstCaseAsync(CallState s, CancellationToken ct)
    {
        s.PromptTokens ??= tokens.CountPrompt(s.Request);
        long worst = 0;
        foreach (var t in s.Resolved!.Targets)
        {
            var price = await pricing.FindAsync(t.Provider, t.Model, s.StartUtc, ct);
            if (price is null)
            {
                AlertUnknownPrice(s.Context.TenantId, t);
                continue;
            }

            worst = Math.Max(worst, price.WorstCaseMicros(s.PromptTokens.Value, s.MaxTokens));
        }

        return worst;
    }

    private async Task<ProviderChatResponse> RunChainAsync(CallState s, CancellationToken ct)
    {
        var targets = s.Resolved!.Targets;
        for (var i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            for (var retried = false; TryStartAttempt(s, target, out var provider); retried = true)
            {
                var creds = await CredentialsForAsync(s, target, ct);
                using var attemptActivity = StartAttemptActivity(s, target);
                using var timeout = new CancellationTokenSource(options.CurrentValue.AttemptTimeout, clock);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
                var started = clock.GetTimestamp();
                try
                {
                    var response = await provider.CompleteAsync(new ProviderChatRequest(target.Model, s.Request, s.MaxTokens, creds), linked.Token);
                    s.ExternalTicks += clock.GetTimestamp() - started;
                    circuits.Success(target);
                    s.Attempts.Add(new Attempt(target.Provider, target.Model, "ok", null, null, ElapsedMs(started)));
                    s.Target = target;
                    s.FellBack = i > 0;
                    return response;
                }
                catch (Exception ex)
                {
                    s.ExternalTicks += clock.GetTimestamp() - started;
                    var failure = Classify(ex, timeout, ct);
                    s.Attempts.Add(new Attempt(target.Provider, target.Model, failure.Outcome, failure.Status, failure.Message, ElapsedMs(started)));
                    attemptActivity?.SetStatus(ActivityStatusCode.Error, failure.Outcome);
                    if (failure.CallerCancelled)
                    {
                        circuits.Abandon(target);
                        throw new OperationCanceledException(ct);
                    }

                    if (!failure.Retryable)
                    {
                        // A request error says nothing against the target's health.
                        circuits.Success(target);
                        throw new GatewayException(UpstreamRequestError(target, failure));
                    }

                    circuits.Failure(target);
                    if (!ShouldRetrySameTarget(failure, retried, i, targets.Count))
                    {
                        break;
                    }
                }
            }
        }

        throw new GatewayException(Unavailable(s));
    }

    /// <summary>
    /// At most one transient retry, and only on the last target (earlier ones fall back at once, which is faster);
    /// never a 429 (the target said to slow down) and never a timeout (it would double the wait).
    /// </summary>
    private static bool ShouldRetrySameTarget(Failure f, bool retried, int index, int count)
        => !retried && index == count - 1 && f.Status != 429 && f.Outcome != "timeout";

    private bool TryStartAttempt(CallState s, ModelTarget target, out IModelProvider provider)
    {
        provider = providers.Find(target.Provider)!;
        if (provider is null)
        {
            s.Attempts.Add(new Attempt(target.Provider, target.Model, "error", null, $"Provider '{target.Provider}' is not configured.", 0));
            return false;
        }

        if (!circuits.TryAcquire(target))
        {
            s.Attempts.Add(new Attempt(target.Provider, target.Model, "circuit_open", null, "Circuit open after repeated failures.", 0));
            return false;
        }

        s.Target = target;
        return true;
    }

    private async Task<ProviderCredentials?> CredentialsForAsync(CallState s, ModelTarget target, CancellationToken ct)
    {
        if (s.Context.BilledToOverride == BilledTo.Support)
        {
            return null;
        }

        var creds = await credentials.GetForCallAsync(s.Context.TenantId, target.Provider, ct);
        s.BilledTo = creds is null ? s.Context.BilledToOverride ?? BilledTo.Platform : BilledTo.TenantKey;
        return creds;
    }

    private static Activity? StartAttemptActivity(CallState s, ModelTarget target)
    {
        var a = GatewayTelemetry.Activities.StartActivity("gateway.attempt");
        a?.SetTag("gen_ai.system", target.Provider);
        a?.SetTag("gen_ai.request.model", target.Model);
        a?.SetTag("keystone.attempt", s.Attempts.Count + 1);
        return a;
    }

    private sealed record Failure(string Outcome, int? Status, string Message, bool Retryable, bool CallerCancelled);

    private static Failure Classify(Exception ex, CancellationTokenSource timeout, CancellationToken callerToken)
    {
        if (callerToken.IsCancellationRequested)
        {
            return new Failure("cancelled", null, "The caller cancelled.", false, true);
        }

        return ex switch
        {
            OperationCanceledException or TimeoutException when timeout.IsCancellationRequested
                => new Failure("timeout", 408, "The attempt timed out.", true, false),
            ProviderException pe => new Failure("error", pe.StatusCode, pe.Message, pe.IsRetryable, false),
            HttpRequestException or IOException => new Failure("error", null, "Connection failure: " + ex.Message, true, false),
            OperationCanceledException => new Failure("error", null, "The upstream request was aborted.", true, false),
            _ => new Failure("error", null, ex.GetType().Name + ": " + ex.Message, true, false),
        };
    }

    private static GatewayError UpstreamRequestError(ModelTarget target, Failure f)
    {
        // The provider refused our credentials: a configuration problem on our side, not the caller's request.
        var status = f.Status is 401 or 403 or null ? 502 : f.Status.Value;
        return new GatewayError(GatewayErrorCodes.UpstreamError, $"{target} refused the request: {f.Message}", status);
    }

    private static GatewayError Unavailable(CallState s)
    {
        var tried = string.Join("; ", s.Attempts.Select(a => $"{a.Provider}/{a.Model}: {a.Outcome}{(a.StatusCode is { } c ? $" {c}" : "")}"));
        return new GatewayError(GatewayErrorCodes.UpstreamUnavailable, $"No provider could answer ({tried}).", 503, TimeSpan.FromSeconds(5));
    }

    private static async ValueTask<(bool Has, Exception? Error)> NextAsync(IAsyncEnumerator<ProviderStreamEvent> e)
    {
        try
        {
            return (await e.MoveNextAsync(), null);
        }
        catch (Exception ex)
        {
            return (false, ex);
        }
    }

    private static IEnumerable<ChatStreamEvent> Replay(CachedAnswer answer)
    {
        for (var i = 0; i < answer.Text.Length; i += ReplayChunkChars)
        {
            yield return new TextDelta(answer.Text.Substring(i, Math.Min(ReplayChunkChars, answer.Text.Length - i)));
        }

        for (var i = 0; i < answer.ToolCalls.Count; i++)
        {
            var t = answer.ToolCalls[i];
            yield return new ToolCallDelta(i, t.Id, t.Name, t.ArgumentsJson);
        }
    }

    private Usage EstimateUsage(CallState s, string received)
    {
        s.PromptTokens ??= tokens.CountPrompt(s.Request);
        return new Usage(s.PromptTokens.Value, tokens.CountText(received));
    }

    /// <summary>Stores a successful answer for the cache and the idempotency key (only when they apply).</summary>
    private async Task RememberAsync(CallState s, CachedAnswer answer, CallOutcome outcome, CancellationToken ct)
    {
        if (s.CacheKey is not null && answer.FinishReason != "length")
        {
            await cache.PutAsync(s.Context.TenantId, s.CacheKey, s.Resolved!.Alias, outcome.Provider, outcome.Model, answer, outcome.CostMicros, s.CallId, ct);
        }

        // A cut-off answer or one that calls tools is not served to a paraphrase.
        if (s.Semantic is { } semantic && answer.FinishReason != "length" && answer.ToolCalls.Count == 0)
        {
            await semanticCache.PutAsync(s.Context.TenantId, semantic.Key, semantic.Question, semantic.Vector, s.Resolved!.Alias, outcome.Provider,
                outcome.Model, answer, outcome.CostMicros, s.CallId, ct);
        }

        await CompleteIdempotencyAsync(s, answer, outcome);
    }

    private async Task CompleteIdempotencyAsync(CallState s, CachedAnswer answer, CallOutcome outcome)
    {
        if (s.IdempotencyClaimed && s.Context.IdempotencyKey is { Length: > 0 } key)
        {
            s.IdempotencyClaimed = false;
            await idempotency.CompleteAsync(s.Context.TenantId, key, new IdempotentResult(answer, outcome), CancellationToken.None);
        }
    }

    private Task<CallOutcome> RecordRejectionAsync(CallState s, GatewayError error)
    {
        telemetry.Rejections.Add(1, new KeyValuePair<string, object?>("code", error.Code));
        return FinishAsync(s, CallStatus.Rejected, Usage.Zero, estimated: false, null, error.Code);
    }

    /// <summary>Steps 9–10: settle the reservation with the actual cost, queue the record, emit metrics. Exactly once per call.</summary>
    private async Task<CallOutcome> FinishAsync(CallState s, CallStatus status, Usage usage, bool estimated, CachedAnswer? answer,
        string? errorCode, CacheStatus cacheStatus = CacheStatus.None, long savedMicros = 0)
    {
        s.Recorded = true;
        long cost = 0;
        var costStatus = estimated ? CostStatus.Estimated : CostStatus.Exact;
        var answered = s.Target is { } t && cacheStatus == CacheStatus.None && (usage.InputTokens > 0 || usage.OutputTokens > 0);
        if (answered)
        {
            var price = await pricing.FindAsync(s.Target!.Provider, s.Target.Model, s.StartUtc, CancellationToken.None);
            if (price is null)
            {
                costStatus = CostStatus.Unknown;
                AlertUnknownPrice(s.Context.TenantId, s.Target);
            }
            else
            {
                cost = price.CostMicros(usage);
            }
        }

        if (s.Reservation is { } reservation)
        {
            // An unknown price settles at the reserved worst case rather than $0, so caps still hold.
            var settled = costStatus == CostStatus.Unknown ? reservation.AmountMicros : cost;
            await ledger.SettleAsync(reservation, settled, s.Snapshot?.SoftThresholdsPercent ?? [], CancellationToken.None);
        }

        var now = clock.GetTimestamp();
        var latencyMs = ElapsedMs(s.StartTimestamp);
        var overheadMs = Math.Max(0, clock.GetElapsedTime(s.StartTimestamp, now).TotalMilliseconds
            - TimeSpan.FromTicks(s.ExternalTicks * TimeSpan.TicksPerSecond / clock.TimestampFrequency).TotalMilliseconds);
        var providerName = s.Target?.Provider;
        var model = s.Target?.Model;
        var call = new LlmCall
        {
            Id = s.CallId,
            TraceId = s.TraceId,
            TenantId = s.Context.TenantId,
            UserId = s.Context.UserId,
            EndUser = s.Context.EndUser,
            ApiKeyId = s.Context.ApiKeyId,
            Feature = string.IsNullOrWhiteSpace(s.Context.Feature) ? "default" : s.Context.Feature,
            RequestId = s.Context.RequestId,
            PromptName = s.Context.PromptName,
            PromptVersionId = s.Context.PromptVersionId,
            Alias = s.Request.Model ?? "",
            Provider = providerName,
            Model = model,
            Streamed = s.Streamed,
            InputTokens = usage.InputTokens,
            OutputTokens = usage.OutputTokens,
            CachedInputTokens = usage.CachedInputTokens,
            CacheWriteTokens = usage.CacheWriteTokens,
            CacheWrite1hTokens = usage.CacheWrite1hTokens,
            ReasoningTokens = usage.ReasoningTokens,
            CostMicros = cost,
            CostStatus = costStatus,
            BilledTo = s.BilledTo,
            CacheStatus = cacheStatus,
            SavedCostMicros = savedMicros,
            Attempts = s.Attempts.Count(a => a.Outcome is not ("circuit_open")),
            FellBack = s.FellBack,
            Status = status,
            ErrorCode = errorCode,
            LatencyMs = latencyMs,
            TtftMs = s.TtftMs,
            ReplayOfCallId = s.Context.ReplayOfCallId,
            CacheSourceCallId = s.CacheHit?.SourceCallId,
            CacheSimilarity = s.CacheHit?.Similarity,
            CreatedUtc = s.StartUtc,
        };
        if (!options.CurrentValue.RecordingDisabledForBenchmarks)
        {
            await recorder.EnqueueAsync(new CallRecord(call, s.Request, answer, [.. s.Attempts]));
        }

        var tags = new TagList { { "status", status.ToString() }, { "provider", providerName }, { "model", model }, { "feature", call.Feature } };
        telemetry.Calls.Add(1, tags);
        telemetry.Latency.Record(latencyMs, tags);
        telemetry.Overhead.Record(overheadMs, tags);
        if (s.TtftMs is { } ttft)
        {
            telemetry.Ttft.Record(ttft, tags);
        }

        if (cost > 0)
        {
            telemetry.Cost.Add(cost, tags);
        }

        if (usage.InputTokens > 0)
        {
            telemetry.Tokens.Add(usage.InputTokens, new TagList { { "type", "input" }, { "model", model } });
        }

        if (usage.OutputTokens > 0)
        {
            telemetry.Tokens.Add(usage.OutputTokens, new TagList { { "type", "output" }, { "model", model } });
        }

        if (s.FellBack)
        {
            telemetry.Fallbacks.Add(1, tags);
        }

        if (cacheStatus != CacheStatus.None)
        {
            telemetry.CacheHits.Add(1, tags);
        }

        s.Activity?.SetTag("keystone.status", status.ToString());
        s.Activity?.SetTag("keystone.cost_micros", cost);
        if (status is not CallStatus.Ok)
        {
            s.Activity?.SetStatus(ActivityStatusCode.Error, errorCode);
            if (s.IdempotencyClaimed && s.Context.IdempotencyKey is { Length: > 0 } key)
            {
                // Only a success is remembered: the caller's retry of a failed call must run again.
                s.IdempotencyClaimed = false;
                await idempotency.ReleaseAsync(s.Context.TenantId, key, s.CallId, CancellationToken.None);
            }
        }

        return new CallOutcome
        {
            CallId = s.CallId,
            TraceId = s.TraceId,
            // A cache hit names the model whose answer it serves (the X-Keystone-Provider / -Model headers); its call
            // row does not, so per-model latency and call counts stay those of real provider calls.
            Provider = providerName ?? s.CacheHit?.Provider,
            Model = model ?? s.CacheHit?.Model,
            CostMicros = cost,
            CostStatus = costStatus,
            BilledTo = s.BilledTo,
            CacheStatus = cacheStatus,
            RateLimit = s.RateLimit,
            SavedCostMicros = savedMicros,
            Attempts = [.. s.Attempts],
            FellBack = s.FellBack,
            Status = status,
            OverheadMs = overheadMs,
            LatencyMs = latencyMs,
            TtftMs = s.TtftMs,
            CacheSimilarity = s.CacheHit?.Similarity,
        };
    }

    /// <summary>A model without a price is an operator problem: warn and leave a system audit entry, once per model per process.</summary>
    private void AlertUnknownPrice(Guid tenantId, ModelTarget target)
    {
        if (!_unknownPriceAlerted.TryAdd(target.ToString(), true))
        {
            return;
        }

        LogUnknownPrice(log, target.ToString());
        _ = Task.Run(async () =>
        {
            try
            {
                await using var db = dbFactory.ForSystem();
                db.AuditLog.Add(new AuditEntry
                {
                    ActorType = "system",
                    ActorId = "gateway",
                    ActorName = "Keystone gateway",
                    TenantId = tenantId,
                    Action = "gateway.price_unknown",
                    Target = "model:" + target,
                    CreatedUtc = clock.GetUtcNow().UtcDateTime,
                });
                await db.SaveChangesAsync();
            }
            catch (Exception ex)
            {
                LogAlertFailed(log, ex);
            }
        });
    }

    private int ElapsedMs(long startTimestamp) => (int)Math.Min(int.MaxValue, clock.GetElapsedTime(startTimestamp).TotalMilliseconds);

    private sealed record Shortcut(CachedAnswer Answer, CallOutcome Outcome);

    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message = "No price for {Model}: its calls are recorded with cost_status unknown")]
    private static partial void LogUnknownPrice(ILogger log, string model);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Writing the unknown-price alert failed")]
    private static partial void LogAlertFailed(ILogger log, Exception ex);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Semantic cache lookup skipped: embedding with {Alias} failed ({Code})")]
    private static partial void LogSemanticEmbedFailed(ILogger log, string alias, string code);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Tenant {TenantId} at its cap: {Alias} degraded to {Degraded}")]
    private static partial void LogDegraded(ILogger log, Guid tenantId, string alias, string degraded);
}
