using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Keystone.Data.Calls;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Routing;
using Keystone.Gateway.Telemetry;
using Keystone.Gateway.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// The one way Keystone calls a model (a request's path: docs/architecture.md). Streaming and non-streaming calls take the same
/// steps: context, alias resolution, rate limits, idempotency, budget reservation (<see cref="CallAdmission"/>),
/// caches (<see cref="AnswerReuse"/>), provider chain (<see cref="ProviderChain"/>), then settle, record and metrics
/// (<see cref="CallSettlement"/>). This class holds the order of the steps and what each outcome settles as.
/// </summary>
/// <remarks>
/// Idempotency is checked before the budget (a replay of a paid result costs nothing and must not be refused
/// for a cap), and the cache after it; a cache hit releases its reservation.
/// </remarks>
internal sealed partial class LlmGateway(
    TenantSettings settings,
    AliasResolver resolver,
    CallAdmission admission,
    AnswerReuse reuse,
    ProviderChain chain,
    CallSettlement settlement,
    IPromptTokenCounter tokens,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock,
    ILogger<LlmGateway> log) : ILlmGateway
{
    /// <summary>Delta size when a cached or idempotent answer is replayed as a stream.</summary>
    private const int ReplayChunkChars = 24;

    public async Task<ChatResult> CompleteAsync(ChatRequest request, CallContext context, CancellationToken ct)
    {
        var s = Begin(request, context, streamed: false);
        try
        {
            if (await PrepareAsync(s, ct) is { } shortcut)
            {
                return new ChatResult(shortcut.Answer.Text, shortcut.Answer.ToolCalls, shortcut.Answer.FinishReason, shortcut.Answer.Usage,
                    shortcut.Outcome);
            }

            ProviderChatResponse response;
            try
            {
                response = await chain.CompleteAsync(s, ct);
            }
            catch (Exception ex) when (IsChainFailure(ex, ct))
            {
                throw await SettleChainFailureAsync(s, ex, new StreamedAnswer(), ct);
            }

            var answer = new CachedAnswer(response.Text, response.ToolCalls, response.FinishReason, response.Usage);
            var outcome = await FinishAsync(s, CallStatus.Ok, response.Usage, estimated: false, answer, null);
            await AfterSettledAsync(s, () => reuse.RememberAsync(s, answer, outcome, CancellationToken.None));
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
        var received = new StreamedAnswer();
        IAsyncEnumerator<ProviderStreamEvent>? events = null;
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

            events = chain.StreamAsync(s, ct).GetAsyncEnumerator(ct);
            while (true)
            {
                var (has, error) = await ProviderChain.NextAsync(events);
                if (error is not null)
                {
                    ExceptionDispatchInfo.Throw(IsChainFailure(error, ct) ? await SettleChainFailureAsync(s, error, received, ct) : error);
                }

                if (!has)
                {
                    var usage = received.Usage;
                    var final = usage ?? settlement.Estimate(s, received.Received);
                    var answer = received.ToAnswer(received.FinishReason, final);
                    var outcome = await FinishAsync(s, CallStatus.Ok, final, estimated: usage is null, answer, null);
                    await AfterSettledAsync(s, () => reuse.RememberAsync(s, answer, outcome, CancellationToken.None));
                    yield return new StreamCompleted(new ChatResult(answer.Text, answer.ToolCalls, answer.FinishReason, final, outcome));
                    yield break;
                }

                switch (events.Current)
                {
                    case AnswerStarted started:
                        yield return new StreamStarted(s.CallId, s.TraceId, started.Target.Provider, started.Target.Model) { RateLimit = s.RateLimit };
                        break;
                    case ProviderTextDelta d when PassesReservation(s, received, d.Text):
                    case ProviderToolCallDelta t when PassesReservation(s, received, t.ArgumentsFragment):
                        // The provider ignores max_tokens: stop reading (disposing the events aborts the upstream request),
                        // end with the error event, and settle what was passed on, never more than was reserved.
                        s.StoppedAtReservation = true;
                        var stopped = await FinishAsync(s, CallStatus.Incomplete, settlement.Estimate(s, received.Received), estimated: true,
                            received.ToAnswer("length", Usage.Zero), GatewayErrorCodes.OutputLimitExceeded);
                        yield return new StreamFailed(new GatewayError(GatewayErrorCodes.OutputLimitExceeded,
                            $"The answer from {s.Target} passed the {s.MaxTokens} output tokens (max_tokens) its budget reservation was made for; " +
                            "it was stopped there so that the spend stays within the reservation.", 502), stopped);
                        yield break;
                    case ProviderTextDelta d:
                        received.Add(d);
                        yield return new TextDelta(d.Text);
                        break;
                    case ProviderToolCallDelta d:
                        received.Add(d);
                        yield return new ToolCallDelta(d.Index, d.Id, d.Name, d.ArgumentsFragment);
                        break;
                    case ProviderUsage u:
                        received.Usage = u.Usage;
                        break;
                    case ProviderFinish f:
                        received.FinishReason = f.FinishReason;
                        break;
                    case AnswerInterrupted interrupted:
                        var usageSoFar = received.Usage;
                        var incomplete = await FinishAsync(s, CallStatus.Incomplete, usageSoFar ?? settlement.Estimate(s, received.Received),
                            estimated: usageSoFar is null, received.ToAnswer("incomplete", Usage.Zero), GatewayErrorCodes.StreamInterrupted);
                        yield return new StreamFailed(new GatewayError(GatewayErrorCodes.StreamInterrupted,
                            $"The stream from {interrupted.Target} failed after the answer started: {interrupted.Reason}", 502), incomplete);
                        yield break;
                }
            }
        }
        finally
        {
            if (events is not null)
            {
                // Aborts the upstream request when the caller stopped reading mid-answer.
                await events.DisposeAsync();
            }

            if (!s.Recorded)
            {
                // The caller disposed the stream early (or cancelled between events): recorded cancelled, estimated.
                await FinishCancelledAsync(s, received);
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
                    admission.CheckRateLimits(s);
                }

                await admission.ReserveEmbeddingAsync(s, request.Inputs, ct);
            }
            catch (GatewayException ex)
            {
                throw new GatewayException(ex.Error, await RejectAsync(s, ex.Error));
            }

            ProviderEmbeddingResponse response;
            try
            {
                response = await chain.EmbedAsync(s, request, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                await FinishAsync(s, CallStatus.Cancelled, new Usage(s.PromptTokens ?? 0, 0), estimated: true, null, GatewayErrorCodes.Cancelled);
                throw;
            }
            catch (GatewayException ex)
            {
                throw new GatewayException(ex.Error, await FinishAsync(s, CallStatus.Error, Usage.Zero, estimated: false, null, ex.Error.Code));
            }

            var outcome = await FinishAsync(s, CallStatus.Ok, response.Usage, estimated: false, null, null);
            return new EmbeddingResult(response.Vectors, response.Usage, outcome);
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
        FirstTokenStages.Mark(FirstTokenStages.Stage.GatewayStart);
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

    /// <summary>Steps 1–5. Returns an answer when idempotency or a cache answers; throws (recorded) when refused.</summary>
    private async Task<Shortcut?> PrepareAsync(CallState s, CancellationToken ct)
    {
        try
        {
            Validate(s.Request);
            var snapshot = s.Snapshot = await settings.GetAsync(s.Context.TenantId, ct);
            s.Resolved = resolver.Resolve(s.Request.Model, snapshot);
            s.MaxTokens = s.Request.MaxTokens ?? options.CurrentValue.DefaultMaxTokens;
            FirstTokenStages.Mark(FirstTokenStages.Stage.Resolved);
            admission.CheckRateLimits(s);
            if (await reuse.ClaimAsync(s, ct) is { } first)
            {
                // The same call again: nothing new is recorded or charged.
                s.Recorded = true;
                return new Shortcut(first.Answer, first.Outcome);
            }

            FirstTokenStages.Mark(FirstTokenStages.Stage.Admitted);
            await admission.ReserveAsync(s, ct);
            FirstTokenStages.Mark(FirstTokenStages.Stage.Reserved);
            if (await reuse.FindAsync(s, (r, c, token) => EmbedCoreAsync(r, c, countRateLimit: false, token), ct) is { } cached)
            {
                return await ServeFromCacheAsync(s, cached.Hit, cached.Status);
            }

            FirstTokenStages.Mark(FirstTokenStages.Stage.Prepared);
            return null;
        }
        catch (GatewayException ex) when (!s.Recorded)
        {
            throw new GatewayException(ex.Error, await RejectAsync(s, ex.Error));
        }
    }

    /// <summary>A cache hit settles at $0 with the original cost recorded as saved, and names its source.</summary>
    private async Task<Shortcut> ServeFromCacheAsync(CallState s, CacheHit hit, CacheStatus status)
    {
        s.CacheHit = hit;
        var outcome = await FinishAsync(s, CallStatus.Ok, hit.Answer.Usage, estimated: false, hit.Answer, null, status, hit.CostMicros);
        await AfterSettledAsync(s, () => reuse.CompleteIdempotencyAsync(s, hit.Answer, outcome));
        return new Shortcut(hit.Answer, outcome);
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

    /// <summary>The chain gave no answer because the caller cancelled, or every target refused or failed.</summary>
    private static bool IsChainFailure(Exception ex, CancellationToken ct)
        => ex is GatewayException || (ex is OperationCanceledException && ct.IsCancellationRequested);

    /// <summary>
    /// Records a call the chain gave no answer: cancelled by the caller (output so far estimated), or an error that names
    /// why. Returns the exception to throw: the cancellation as it was, the gateway error with what was recorded.
    /// </summary>
    private async Task<Exception> SettleChainFailureAsync(CallState s, Exception error, StreamedAnswer received, CancellationToken ct)
    {
        if (error is GatewayException ex)
        {
            return new GatewayException(ex.Error, await FinishAsync(s, CallStatus.Error, Usage.Zero, estimated: false, null, ex.Error.Code));
        }

        await FinishCancelledAsync(s, received);
        return error;
    }

    private Task<CallOutcome> FinishCancelledAsync(CallState s, StreamedAnswer received)
        => FinishAsync(s, CallStatus.Cancelled, settlement.Estimate(s, received.Received), estimated: true,
            received.ToAnswer("cancelled", Usage.Zero), GatewayErrorCodes.Cancelled);

    private Task<CallOutcome> RejectAsync(CallState s, GatewayError error)
    {
        settlement.CountRejection(error);
        return FinishAsync(s, CallStatus.Rejected, Usage.Zero, estimated: false, null, error.Code);
    }

    /// <summary>Settles the call (exactly once); a call that did not succeed gives up its idempotency claim.</summary>
    private async Task<CallOutcome> FinishAsync(CallState s, CallStatus status, Usage usage, bool estimated, CachedAnswer? answer,
        string? errorCode, CacheStatus cacheStatus = CacheStatus.None, long savedMicros = 0)
    {
        var outcome = await settlement.SettleAsync(s, status, usage, estimated, answer, errorCode, cacheStatus, savedMicros);
        if (status is not CallStatus.Ok)
        {
            await AfterSettledAsync(s, () => reuse.ReleaseIdempotencyAsync(s));
        }

        return outcome;
    }

    /// <summary>
    /// Steps after the call is settled and queued for recording (remembering it in the caches, the idempotency record):
    /// a database that refuses them must not turn an answer the caller is owed into an error. Logged; the cache simply
    /// misses, and an idempotency claim expires after <see cref="GatewayOptions.IdempotencyInFlightTtl"/>.
    /// </summary>
    private async Task AfterSettledAsync(CallState s, Func<Task> step)
    {
        try
        {
            await step();
        }
        catch (Exception ex)
        {
            LogAfterSettledFailed(log, ex, s.Context.TenantId, s.CallId);
        }
    }

    /// <summary>
    /// Whether passing <paramref name="piece"/> on would take a capped stream's output past the <c>max_tokens</c> its
    /// reservation was made for. Uncapped calls are not counted (nothing to protect, and the provider's tokenizer may
    /// differ from ours).
    /// </summary>
    private bool PassesReservation(CallState s, StreamedAnswer received, string? piece)
    {
        if (s.Reservation is not { Caps.Count: > 0 } || s.MaxTokens <= 0 || string.IsNullOrEmpty(piece))
        {
            return false;
        }

        // A piece has at most as many tokens as its UTF-8 bytes (decision 0048): while that bound of the output fits, no
        // delta is tokenized on its way to the caller (issue 26: a BPE pass per chunk was CPU on every stream's path).
        s.CountedOutputTokens += TokenCounter.UpperBound(piece);
        if (s.CountedOutputTokens <= s.MaxTokens)
        {
            return false;
        }

        // The bound no longer fits: before stopping, count the whole output exactly once, and carry on from that count
        // when it still fits. Only the exact count stops a stream.
        s.CountedOutputTokens = tokens.CountText(received.Received + piece);
        return s.CountedOutputTokens > s.MaxTokens;
    }

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "Remembering answered call {CallId} of tenant {TenantId} (cache, idempotency) failed; the answer went out")]
    private static partial void LogAfterSettledFailed(ILogger log, Exception ex, Guid tenantId, Guid callId);

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

    private sealed record Shortcut(CachedAnswer Answer, CallOutcome Outcome);
}
