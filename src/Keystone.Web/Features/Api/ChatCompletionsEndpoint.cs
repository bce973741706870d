using System.Buffers;
using System.Text.Json;
using Keystone.Gateway;
using Keystone.Gateway.Telemetry;
using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Api;

/// <summary><c>POST /v1/chat/completions</c>: OpenAI's contract, answered through the gateway.</summary>
internal static class ChatCompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext http, ILlmGateway gateway, ApiRequestBody body, IOptionsMonitor<ApiOptions> options, TimeProvider clock)
    {
        FirstTokenStages.Mark(FirstTokenStages.Stage.Endpoint);
        var ct = http.RequestAborted;
        var key = ApiKeyContext.KeyOf(http) ?? throw new InvalidOperationException("API key authentication did not run.");
        var parsed = await body.ReadAsync(http.Request, ChatCompletionParser.Parse, ct);
        FirstTokenStages.Mark(FirstTokenStages.Stage.BodyParsed);
        ApiHttp.EnsureKeyMayUse(key, parsed.Request.Model);
        var context = ApiHttp.CallContextOf(http, key, parsed.User);

        await RespondAsync(http, gateway, parsed.Request, context, parsed.Stream, parsed.IncludeUsage, options.CurrentValue, clock, ct);
    }

    /// <summary>
    /// Runs <paramref name="request"/> through the gateway and answers in the Chat Completions shape, streamed or not;
    /// shared with <c>POST /v1/prompts/{name}/completions</c>.
    /// </summary>
    public static async Task RespondAsync(HttpContext http, ILlmGateway gateway, ChatRequest request, CallContext context, bool stream, bool includeUsage,
        ApiOptions options, TimeProvider clock, CancellationToken ct)
    {
        if (stream)
        {
            await new ChatStreamWriter(http, clock, options.StreamKeepAliveInterval)
                .WriteAsync(gateway.StreamAsync(request, context, ct), request.Model, includeUsage, ct);
            return;
        }

        var result = await gateway.CompleteAsync(request, context, ct);
        ApiHttp.SetOutcomeHeaders(http.Response, result.Outcome, includeCost: true);
        var response = new ChatCompletionResponse(
            Id: CompletionId(result.Outcome.CallId),
            Object: "chat.completion",
            Created: clock.GetUtcNow().ToUnixTimeSeconds(),
            Model: result.Outcome.Model ?? request.Model,
            Choices:
            [
                new ChatChoice(0, new ChatChoiceMessage("assistant",
                    result.ToolCalls.Count > 0 && result.Text.Length == 0 ? null : result.Text,
                    result.ToolCalls.Count == 0 ? null : result.ToolCalls.Select(ToDto).ToList()), result.FinishReason),
            ],
            Usage: UsageOf(result.Usage, result.Outcome.CostMicros));
        await ApiHttp.WriteJsonAsync(http.Response, response, ApiJsonContext.Answer, ct);
    }

    public static string CompletionId(Guid callId) => "chatcmpl-" + callId.ToString("N");

    public static ChatUsage UsageOf(Keystone.Gateway.Usage usage, long costMicros) => new(
        usage.InputTokens, usage.OutputTokens, usage.InputTokens + usage.OutputTokens,
        new PromptTokensDetails(usage.CachedInputTokens), new CompletionTokensDetails(usage.ReasoningTokens), costMicros);

    private static ToolCallDto ToDto(ToolCall call) => new(call.Id, "function", new ToolCallFunctionDto(call.Name, call.ArgumentsJson));
}

/// <summary>
/// Writes a gateway stream as OpenAI's <c>text/event-stream</c> chunks. The response starts only when the
/// first event arrives, so a rejection before any token (budget, rate limit, every target down) is still a
/// plain JSON error with its real status. While the first event is slow, SSE comments keep the connection
/// alive; once one is sent the status is committed and a later rejection becomes an SSE error event.
/// Headers known at the start (trace id, provider, model, cache) are sent as headers; the cost and the
/// gateway overhead, known at the end, go into the final chunk (<c>x_keystone_cost_micros</c>,
/// <c>x_keystone_overhead_ms</c>) and, where the protocol allows, into response trailers.
/// When a keep-alive had to go out first, the headers left with it: the trace id is known up front (the request's
/// own, announced in <c>x-request-id</c>) and is set before any byte is sent, and the first data chunk always
/// carries the attribution itself (<c>model</c>, <c>x_keystone_trace_id</c>, <c>x_keystone_provider</c>,
/// <c>x_keystone_cache</c>), so a client reads it from the same place whether the headers made it or not.
/// Flush policy (issue 26, time to first token): chunks are written into the response's pipe and flushed when the
/// gateway has no next event ready, never later. The headers, the role chunk and the first token leave in one write,
/// flushed at once even when more is ready (the first token never waits for a burst behind it), and a burst the
/// provider sent at once after it leaves at once, instead of one socket write (and one wake-up of the client) per
/// chunk; a chunk never waits in the buffer while the gateway waits for the provider.
/// </summary>
internal sealed class ChatStreamWriter(HttpContext http, TimeProvider clock, TimeSpan keepAlive)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();
    private static readonly byte[] KeepAliveComment = ": keep-alive\n\n"u8.ToArray();

    private readonly HttpResponse _response = http.Response;
    private string _id = "chatcmpl-pending";
    private string _model = "";
    private long _created;
    private bool _started;
    private bool _sentRole;
    private bool _sentFirstToken;

    public async Task WriteAsync(IAsyncEnumerable<ChatStreamEvent> events, string requestedModel, bool includeUsage, CancellationToken ct)
    {
        _model = requestedModel;
        _created = clock.GetUtcNow().ToUnixTimeSeconds();
        await using var enumerator = events.GetAsyncEnumerator(ct);

        // First event: wait with keep-alives, and let a GatewayException escape while nothing was sent.
        if (!await FirstMoveAsync(enumerator, ct))
        {
            await FailAsync(new GatewayError(GatewayErrorCodes.UpstreamError, "The stream ended without an answer.", 502), ct);
            return;
        }

        do
        {
            switch (enumerator.Current)
            {
                case StreamStarted started:
                    _id = ChatCompletionsEndpoint.CompletionId(started.CallId);
                    _model = started.Model;
                    if (!_started)
                    {
                        _response.Headers["X-Keystone-Trace-Id"] = started.TraceId.ToString();
                        _response.Headers["X-Keystone-Provider"] = started.Provider;
                        _response.Headers["X-Keystone-Model"] = started.Model;
                        ApiHttp.SetCacheHeaders(_response, started.CacheStatus, started.CacheSimilarity);
                        ApiHttp.SetRateLimitHeaders(_response, started.RateLimit);
                    }

                    Start();
                    FirstTokenStages.Mark(FirstTokenStages.Stage.ResponseStarted);
                    if (!_sentRole)
                    {
                        _sentRole = true;
                        WriteChunk(w => Delta(w, role: true, content: "", null), null,
                            extra: w => Attribution(w, started.TraceId, started.Provider, started.CacheStatus));
                    }

                    break;
                case TextDelta text:
                    Start();
                    WriteChunk(w => Delta(w, role: false, text.Text, null), null);
                    FirstTokenStages.Mark(FirstTokenStages.Stage.FirstTokenWritten);
                    await FirstTokenOutAsync(ct);
                    break;
                case ToolCallDelta tool:
                    Start();
                    WriteChunk(w => Delta(w, role: false, null, tool), null);
                    await FirstTokenOutAsync(ct);
                    break;
                case StreamCompleted completed:
                    await CompleteAsync(completed.Result, includeUsage, ct);
                    return;
                case StreamFailed failed:
                    await FailAsync(failed.Error, ct);
                    return;
            }
        }
        while (await NextAsync(enumerator, ct));

        await FailAsync(new GatewayError(GatewayErrorCodes.StreamInterrupted, "The stream ended without completing.", 502), ct);
    }

    private async Task<bool> FirstMoveAsync(IAsyncEnumerator<ChatStreamEvent> enumerator, CancellationToken ct)
    {
        var move = enumerator.MoveNextAsync();
        if (move.IsCompleted)
        {
            return await move;
        }

        var pending = move.AsTask();
        // Cancelled once the first event is in: a keep-alive timer is not left running for its whole interval per stream.
        using var delays = CancellationTokenSource.CreateLinkedTokenSource(ct);
        while (true)
        {
            var delay = Task.Delay(keepAlive, clock, delays.Token);
            if (await Task.WhenAny(pending, delay) == pending)
            {
                // Cancel, not CancelAsync: CancelAsync runs the timer's cancellation on a thread-pool thread and awaiting it
                // held the first token back by that hop (issue 26, decision 0057); cancelling a delay inline is cheap.
                delays.Cancel();
                return await pending;
            }

            try
            {
                ct.ThrowIfCancellationRequested();
                Start();
                _response.BodyWriter.Write(KeepAliveComment);
                await _response.BodyWriter.FlushAsync(ct);
            }
            catch (OperationCanceledException)
            {
                await AwaitStepAsync(new ValueTask<bool>(pending));
                throw;
            }
        }
    }

    /// <summary>
    /// The first token leaves at once (with the headers and the role chunk before it, one write), even when more is ready:
    /// a provider that sends its first words in a burst with the next ones (an instant upstream, a fast model) would
    /// otherwise hold the first token back until the reader caught up with the burst (issue 26, time to first token;
    /// decision 0057). Later tokens are coalesced as before. The stream then yields once, so the queued send runs before it
    /// reads on (decision 0060).
    /// </summary>
    private async ValueTask FirstTokenOutAsync(CancellationToken ct)
    {
        if (_sentFirstToken)
        {
            return;
        }

        _sentFirstToken = true;
        await _response.BodyWriter.FlushAsync(ct);
        FirstTokenStages.Mark(FirstTokenStages.Stage.FirstTokenFlushed);
        // The flush only queues the send on Kestrel's output queue (a thread-pool work item); reading on through a burst
        // here would leave that send to a parked worker that must be woken and find a core (2 cores: this thread, the
        // client, the provider). Yielding puts this stream behind the queued send, so a free thread (often this one) sends
        // the first token first. Once per stream; measured as pairs with idle pauses between calls (--gap 20): the stream's
        // own share of the added first token 0.29–0.34 ms before, 0.13–0.22 after, no change without pauses (decision 0060).
        await Task.Yield();
    }

    /// <summary>
    /// The next event. When it is not ready yet, what was written goes out first: the caller has everything so far while
    /// the gateway waits for the provider, and events that are ready together leave together.
    /// </summary>
    private async ValueTask<bool> NextAsync(IAsyncEnumerator<ChatStreamEvent> enumerator, CancellationToken ct)
    {
        var move = enumerator.MoveNextAsync();
        if (!move.IsCompleted)
        {
            try
            {
                await _response.BodyWriter.FlushAsync(ct);
            }
            catch (OperationCanceledException)
            {
                await AwaitStepAsync(move);
                throw;
            }
        }

        return await move;
    }

    /// <summary>
    /// The caller went away while the gateway's step was in flight: that step sees the same cancellation and ends (it
    /// records the call as cancelled); it must have ended before the enumerator is disposed, which a running async
    /// enumerator refuses.
    /// </summary>
    private static async ValueTask AwaitStepAsync(ValueTask<bool> step)
    {
        try
        {
            await step;
        }
        catch (Exception ex) when (ex is OperationCanceledException or GatewayException)
        {
            // The cancellation already on its way up is the answer.
        }
    }

    private void Start()
    {
        if (_started)
        {
            return;
        }

        _started = true;
        // Every answer names its trace: when a keep-alive starts the response before the gateway's first event, this
        // is the only moment to set the header, and the request's trace id (the call's, unless an idempotent replay
        // answers with an earlier call's) is known from the start.
        if (!_response.Headers.ContainsKey("X-Keystone-Trace-Id") && ApiHttp.TraceIdOf(http) is { } traceId)
        {
            _response.Headers["X-Keystone-Trace-Id"] = traceId.ToString();
        }

        _response.StatusCode = 200;
        _response.ContentType = "text/event-stream; charset=utf-8";
        _response.Headers.CacheControl = "no-cache";
        _response.Headers["X-Accel-Buffering"] = "no";
        _response.Headers.Remove("Content-Length");
        if (_response.SupportsTrailers())
        {
            _response.DeclareTrailer("X-Keystone-Cost-Micros");
            _response.DeclareTrailer("X-Gateway-Overhead-Ms");
        }

        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        // No HttpResponse.StartAsync: Kestrel's StartAsync sends the headers at once, in a write of their own, and the first
        // token followed in a second one — two sends on the first token's path and two receives for the caller (issue 26,
        // the stage profile). The status and headers are set here and leave with the first bytes written after them (the
        // first token, a keep-alive, an error event), in one write; every caller of this method writes and flushes next.
    }

    private async Task CompleteAsync(ChatResult result, bool includeUsage, CancellationToken ct)
    {
        if (!_sentRole)
        {
            // A cache hit can complete without a StreamStarted: take the ids from the outcome. Keep-alives may have
            // started the response already (a slow semantic-cache lookup): the answer's text still goes out.
            _sentRole = true;
            _id = ChatCompletionsEndpoint.CompletionId(result.Outcome.CallId);
            if (!_started)
            {
                ApiHttp.SetOutcomeHeaders(_response, result.Outcome, includeCost: true);
            }

            _model = result.Outcome.Model ?? _model;
            Start();
            WriteChunk(w => Delta(w, role: true, result.Text, null), null,
                extra: w => Attribution(w, result.Outcome.TraceId, result.Outcome.Provider, result.Outcome.CacheStatus));
        }

        var outcome = result.Outcome;
        WriteChunk(w =>
        {
            w.WriteStartObject("delta");
            w.WriteEndObject();
        }, w => w.WriteString("finish_reason", result.FinishReason), extra: w =>
        {
            w.WriteNumber("x_keystone_cost_micros", outcome.CostMicros);
            w.WriteNumber("x_keystone_overhead_ms", Math.Round(outcome.OverheadMs, 3));
            w.WriteString("x_keystone_trace_id", outcome.TraceId.ToString());
            w.WriteString("x_keystone_cache", ApiHttp.CacheHeader(outcome.CacheStatus));
        });

        if (includeUsage)
        {
            var usage = ChatCompletionsEndpoint.UsageOf(result.Usage, outcome.CostMicros);
            WriteRawChunk(w =>
            {
                WriteHead(w);
                w.WriteStartArray("choices");
                w.WriteEndArray();
                w.WritePropertyName("usage");
                JsonSerializer.Serialize(w, usage);
            });
        }

        _response.BodyWriter.Write(Done);
        await _response.BodyWriter.FlushAsync(ct);
        if (_response.SupportsTrailers())
        {
            _response.AppendTrailer("X-Keystone-Cost-Micros", outcome.CostMicros.ToString(System.Globalization.CultureInfo.InvariantCulture));
            _response.AppendTrailer("X-Gateway-Overhead-Ms", ApiHttp.Milliseconds(outcome.OverheadMs));
        }
    }

    private async Task FailAsync(GatewayError error, CancellationToken ct)
    {
        if (!_started)
        {
            await ApiHttp.WriteErrorAsync(http, error);
            return;
        }

        // An explicit error event and no [DONE]: a client never mistakes a cut stream for a complete one.
        _response.BodyWriter.Write(DataPrefix);
        _response.BodyWriter.Write(ApiErrors.Body(error.HttpStatus, error.Code, error.Message, error.Param));
        _response.BodyWriter.Write(EventEnd);
        await _response.BodyWriter.FlushAsync(ct);
    }

    // The first chunk's attribution (docs/api.md, "Streaming"): what the X-Keystone-* headers say, readable even when
    // a keep-alive sent the headers before the gateway knew the provider.
    private static void Attribution(Utf8JsonWriter w, Guid traceId, string? provider, Keystone.Data.Calls.CacheStatus cache)
    {
        w.WriteString("x_keystone_trace_id", traceId.ToString());
        if (provider is not null)
        {
            w.WriteString("x_keystone_provider", provider);
        }

        w.WriteString("x_keystone_cache", ApiHttp.CacheHeader(cache));
    }

    private static void Delta(Utf8JsonWriter w, bool role, string? content, ToolCallDelta? tool)
    {
        w.WriteStartObject("delta");
        if (role)
        {
            w.WriteString("role", "assistant");
        }

        if (content is not null)
        {
            w.WriteString("content", content);
        }

        if (tool is not null)
        {
            w.WriteStartArray("tool_calls");
            w.WriteStartObject();
            w.WriteNumber("index", tool.Index);
            if (tool.Id is not null)
            {
                w.WriteString("id", tool.Id);
                w.WriteString("type", "function");
            }

            w.WriteStartObject("function");
            if (tool.Name is not null)
            {
                w.WriteString("name", tool.Name);
            }

            if (tool.ArgumentsFragment is not null)
            {
                w.WriteString("arguments", tool.ArgumentsFragment);
            }

            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private void WriteChunk(Action<Utf8JsonWriter> delta, Action<Utf8JsonWriter>? finish, Action<Utf8JsonWriter>? extra = null)
        => WriteRawChunk(w =>
        {
            WriteHead(w);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            delta(w);
            if (finish is null)
            {
                w.WriteNull("finish_reason");
            }
            else
            {
                finish(w);
            }

            w.WriteEndObject();
            w.WriteEndArray();
            extra?.Invoke(w);
        });

    private void WriteHead(Utf8JsonWriter w)
    {
        w.WriteString("id", _id);
        w.WriteString("object", "chat.completion.chunk");
        w.WriteNumber("created", _created);
        w.WriteString("model", _model);
    }

    /// <summary>
    /// One <c>data:</c> event, written into the response's pipe (not flushed: <see cref="NextAsync"/> decides). The JSON
    /// is written into this thread's scratch buffer first and copied into the pipe (issue 26, memory per open stream):
    /// a <see cref="Utf8JsonWriter"/> on the pipe itself asks it for at least 4,096 bytes at a time, which Kestrel's
    /// chunked response adds its chunk framing to; that no longer fits one of its 4 KB pool blocks, so every stream took
    /// an 8 KB array from the shared array pool, and Kestrel's producer keeps a reference to its last chunk memory until
    /// the connection's next response: 8 KB per open stream, and 8 KB per idle keep-alive connection after the streams
    /// ended (measured with a heap dump at 1,000 streams: 1,439 such arrays open, 989 still held after they ended).
    /// Copied with <see cref="BuffersExtensions.Write{T}(IBufferWriter{T}, ReadOnlySpan{T})"/>, the event goes into
    /// whatever room the pipe's current block has, asking for no more. The scratch buffer is per thread, not per stream:
    /// this method never awaits, so an open stream holds none of it while it waits for the provider.
    /// </summary>
    private void WriteRawChunk(Action<Utf8JsonWriter> body)
    {
        var scratch = ChunkScratch.Take();
        try
        {
            var json = scratch.Json;
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
            json.Flush();

            var pipe = _response.BodyWriter;
            pipe.Write(DataPrefix);
            pipe.Write(scratch.Buffer.WrittenSpan);
            pipe.Write(EventEnd);
        }
        finally
        {
            ChunkScratch.Return(scratch);
        }
    }
}

/// <summary>
/// A thread's buffer and JSON writer for one stream event at a time (<see cref="ChatStreamWriter"/>): reused across events
/// and streams, so an event costs neither a new <see cref="Utf8JsonWriter"/> nor a buffer held by the stream. A buffer that
/// grew past <see cref="MaxKeptBytes"/> for a large event (a long answer replayed from the cache in one chunk) is dropped
/// after use rather than kept by the thread.
/// </summary>
internal sealed class ChunkScratch
{
    /// <summary>A thread keeps its buffer up to this size; a typical event is a few hundred bytes.</summary>
    internal const int MaxKeptBytes = 16 * 1024;

    [ThreadStatic]
    private static ChunkScratch? t_cached;

    private ChunkScratch()
    {
        Json = new Utf8JsonWriter(Buffer);
    }

    public ArrayBufferWriter<byte> Buffer { get; } = new(1024);

    public Utf8JsonWriter Json { get; }

    /// <summary>This thread's scratch (empty), or a new one when it has none or is using it already.</summary>
    public static ChunkScratch Take()
    {
        var scratch = t_cached ?? new ChunkScratch();
        t_cached = null;
        return scratch;
    }

    /// <summary>Cleared and kept for the thread's next event, unless it grew too large.</summary>
    public static void Return(ChunkScratch scratch)
    {
        if (scratch.Buffer.Capacity > MaxKeptBytes)
        {
            scratch.Json.Dispose();
            return;
        }

        scratch.Buffer.ResetWrittenCount();
        scratch.Json.Reset(scratch.Buffer);
        t_cached = scratch;
    }
}
