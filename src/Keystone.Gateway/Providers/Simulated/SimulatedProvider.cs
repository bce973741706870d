using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keystone.Gateway.Tokenization;

namespace Keystone.Gateway.Providers.Simulated;

/// <summary>
/// The built-in provider: a real <see cref="IModelProvider"/> that needs no network. Answers are derived from the
/// request (same request, same answer; <see cref="SimulatedOptions.Drift"/> changes them), token counts come from the
/// o200k tokenizer, output respects <c>max_tokens</c>, tools and JSON schemas are honoured, a repeated long prompt
/// prefix is reported as cached input like OpenAI does, and faults and speed are configurable per provider and per
/// request (<see cref="SimulatedMarkers"/>).
/// </summary>
internal sealed class SimulatedProvider(string name, ProviderOptions options, TokenCounter tokens, TimeProvider time) : IModelProvider, IProviderKeyProbe
{
    /// <summary>OpenAI caches prompt prefixes in steps of this many tokens past the minimum.</summary>
    internal const int PromptCacheStep = 128;

    private const int MaxRememberedPrefixes = 100_000;
    private const int EmbeddingDimensions = 1536;

    private readonly ConcurrentDictionary<ulong, byte> _seenPrefixes = new();

    public string Name => name;

    /// <summary>The simulated provider has no accounts: every key is accepted.</summary>
    public Task<ProviderKeyCheck> CheckKeyAsync(string apiKey, CancellationToken ct) => Task.FromResult(ProviderKeyCheck.Of(ProviderKeyCheckResult.Accepted, null));

    public async Task<ProviderChatResponse> CompleteAsync(ProviderChatRequest request, CancellationToken ct)
    {
        ThrowIfOutage(options.Simulated);
        var plan = Plan(request);
        await FailBeforeAnswerAsync(plan, ct);
        var duration = TimeSpan.FromMilliseconds(plan.Knobs.TimeToFirstTokenMs)
            + (plan.Knobs.TokensPerSecond > 0 ? TimeSpan.FromSeconds((double)plan.OutputIds.Count / plan.Knobs.TokensPerSecond) : TimeSpan.Zero);
        if (plan.Fault == SimulatedFault.Cut)
        {
            await DelayAsync(duration, ct);
            throw new ProviderException($"{name}: the connection broke mid-answer (simulated).", null, isRetryable: true);
        }

        await DelayAsync(duration, ct);
        return new ProviderChatResponse(plan.Text, plan.ToolCalls, plan.FinishReason, plan.Usage, request.Model);
    }

    public async IAsyncEnumerable<ProviderStreamEvent> StreamAsync(ProviderChatRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        ThrowIfOutage(options.Simulated);
        var plan = Plan(request);
        await FailBeforeAnswerAsync(plan, ct);
        await DelayAsync(TimeSpan.FromMilliseconds(plan.Knobs.TimeToFirstTokenMs), ct);
        var start = time.GetTimestamp();
        var sent = 0;
        var cutAfter = plan.Fault == SimulatedFault.Cut ? plan.Knobs.CutAfterTokens : int.MaxValue;

        for (var i = 0; i < plan.ToolCalls.Count; i++)
        {
            var call = plan.ToolCalls[i];
            yield return new ProviderToolCallDelta(i, call.Id, call.Name, null);
            foreach (var piece in Pieces(tokens.Encode(call.ArgumentsJson)))
            {
                if (sent++ >= cutAfter)
                {
                    throw new ProviderException($"{name}: the stream broke after {cutAfter} tokens (simulated).", null, isRetryable: true);
                }

                await PaceAsync(start, sent, plan.Knobs, ct);
                yield return new ProviderToolCallDelta(i, null, null, piece);
            }
        }

        foreach (var piece in Pieces(plan.OutputIds))
        {
            if (sent++ >= cutAfter)
            {
                throw new ProviderException($"{name}: the stream broke after {cutAfter} tokens (simulated).", null, isRetryable: true);
            }

            await PaceAsync(start, sent, plan.Knobs, ct);
            yield return new ProviderTextDelta(piece);
        }

        if (plan.Fault == SimulatedFault.Cut)
        {
            // The answer was shorter than the cut point: the connection still breaks before the end.
            throw new ProviderException($"{name}: the stream broke before the end (simulated).", null, isRetryable: true);
        }

        yield return new ProviderFinish(plan.FinishReason);
        yield return new ProviderUsage(plan.Usage);
    }

    public async Task<ProviderEmbeddingResponse> EmbedAsync(string model, IReadOnlyList<string> inputs, int? dimensions,
        ProviderCredentials? credentials, CancellationToken ct)
    {
        if (!model.Contains("embed", StringComparison.OrdinalIgnoreCase))
        {
            throw new ProviderException($"{name}: '{model}' is a chat model, not an embedding model.", 400, isRetryable: false);
        }

        var knobs = options.Simulated;
        ThrowIfOutage(knobs);
        if (Faulted(knobs, Seed(string.Join('\n', inputs), knobs.Drift)) is { } fault and not SimulatedFault.Cut)
        {
            await ThrowFaultAsync(fault, knobs, ct);
        }

        await DelayAsync(TimeSpan.FromMilliseconds(knobs.TimeToFirstTokenMs / 2.0), ct);
        var dims = dimensions is > 0 and <= 4096 ? dimensions.Value : EmbeddingDimensions;
        var vectors = inputs.Select(i => Embed(i, dims)).ToList();
        return new ProviderEmbeddingResponse(vectors, new Usage(inputs.Sum(tokens.Count), 0), model);
    }

    /// <summary>
    /// Hashed bag of words: each distinct word adds a fixed pseudo-random direction, so texts sharing words have a
    /// high cosine similarity (enough for the semantic cache and retrieval to behave like the real thing).
    /// </summary>
    internal static float[] Embed(string text, int dims)
    {
        var vector = new float[dims];
        var words = text.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(w => new string(w.Where(char.IsLetterOrDigit).ToArray())).Where(w => w.Length > 0);
        foreach (var word in words)
        {
            var rng = new Random((int)(Hash64(word) & 0x7FFFFFFF));
            for (var i = 0; i < dims; i++)
            {
                vector[i] += (float)(rng.NextDouble() * 2 - 1);
            }
        }

        var norm = MathF.Sqrt(vector.Sum(v => v * v));
        if (norm == 0)
        {
            vector[0] = 1;
            return vector;
        }

        for (var i = 0; i < dims; i++)
        {
            vector[i] /= norm;
        }

        return vector;
    }

    private sealed record AnswerPlan(SimulatedOptions Knobs, SimulatedFault? Fault, string Text, IReadOnlyList<int> OutputIds,
        IReadOnlyList<ToolCall> ToolCalls, string FinishReason, Usage Usage);

    private AnswerPlan Plan(ProviderChatRequest request)
    {
        if (request.Model.Contains("embed", StringComparison.OrdinalIgnoreCase))
        {
            throw new ProviderException($"{name}: '{request.Model}' is an embedding model, not a chat model.", 400, isRetryable: false);
        }

        var r = request.Request;
        var knobs = SimulatedMarkers.Apply(options.Simulated, r.Messages);
        var prompt = Render(request);
        var seed = Seed(prompt, knobs.Drift);
        var rng = new Random((int)(seed & 0x7FFFFFFF));
        var fault = Faulted(knobs, seed);

        var inputTokens = tokens.CountChat(r.Messages, r.Tools);
        var cached = Math.Min(CachedPrefixTokens(prompt, knobs.PromptCacheMinTokens), inputTokens);
        var maxTokens = Math.Max(1, request.MaxTokens);
        var isReasoning = request.Model.Contains("reason", StringComparison.OrdinalIgnoreCase);
        var reasoning = isReasoning ? Math.Min(48 + rng.Next(80), maxTokens / 2) : 0;
        var budget = maxTokens - reasoning;

        var toolCalls = ChooseToolCalls(r, rng);
        if (toolCalls.Count > 0)
        {
            var argumentTokens = toolCalls.Sum(c => tokens.Count(c.Name) + tokens.Count(c.ArgumentsJson) + 3);
            var usage = new Usage(inputTokens, argumentTokens + reasoning, CachedInputTokens: cached, ReasoningTokens: reasoning);
            return new AnswerPlan(knobs, fault, "", [], toolCalls, "tool_calls", usage);
        }

        var text = r.ResponseFormat?.Type switch
        {
            "json_schema" => SimulatedAnswerWriter.JsonFor(r.ResponseFormat.Schema, SimulatedAnswerWriter.Topic(r.Messages), rng),
            "json_object" => SimulatedAnswerWriter.JsonFor(null, SimulatedAnswerWriter.Topic(r.Messages), rng),
            _ => SimulatedAnswerWriter.Prose(request.Model, r.Messages, rng),
        };
        var ids = tokens.Encode(text);
        var finish = "stop";
        if (ids.Count > budget)
        {
            ids = ids.Take(budget).ToArray();
            text = tokens.Decode(ids);
            finish = "length";
        }
        else if (r.Stop is { Count: > 0 } stops && stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min() is var at and >= 0)
        {
            text = text[..at];
            ids = tokens.Encode(text);
        }

        return new AnswerPlan(knobs, fault, text, ids, [], finish,
            new Usage(inputTokens, ids.Count + reasoning, CachedInputTokens: cached, ReasoningTokens: reasoning));
    }

    /// <summary>
    /// Calls a tool when tools are offered and tool_choice allows it: always when required or named, else for two requests in three.
    /// A <c>[sim:tool=NAME]</c> marker makes the answer to the user message call NAME (offered or not, as a real model
    /// may invent one); <c>[sim:toolloop=NAME]</c> calls it after every tool result too; <c>[sim:badargs]</c> sends <c>{}</c>.
    /// </summary>
    private static List<ToolCall> ChooseToolCalls(ChatRequest r, Random rng)
    {
        if (r.Tools is { Count: > 0 } && SimulatedMarkers.ForcedTool(r.Messages) is { } forced
            && (forced.EveryTurn || (r.Messages.Count > 0 && r.Messages[^1].Role != "tool")))
        {
            var offered = r.Tools.FirstOrDefault(t => t.Name == forced.Name);
            var forcedArgs = forced.BadArguments || offered is null ? "{}" : SimulatedAnswerWriter.JsonFor(offered.Parameters, SimulatedAnswerWriter.Topic(r.Messages), rng);
            return [new ToolCall("call_" + rng.Next(100_000_000, 999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture), forced.Name, forcedArgs)];
        }

        if (r.Tools is not { Count: > 0 } tools || r.Messages.Count == 0 || r.Messages[^1].Role == "tool")
        {
            return [];
        }

        string? named = null;
        var mode = "auto";
        if (r.ToolChoice is { } choice)
        {
            if (choice.ValueKind == JsonValueKind.String)
            {
                mode = choice.GetString() ?? "auto";
            }
            else if (choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("function", out var f) && f.TryGetProperty("name", out var n))
            {
                named = n.GetString();
                mode = "required";
            }
        }

        var roll = rng.Next(3);
        if (mode == "none" || (mode == "auto" && roll == 0))
        {
            return [];
        }

        var tool = (named is null ? null : tools.FirstOrDefault(t => t.Name == named)) ?? tools[rng.Next(tools.Count)];
        var args = SimulatedAnswerWriter.JsonFor(tool.Parameters, SimulatedAnswerWriter.Topic(r.Messages), rng);
        return [new ToolCall("call_" + rng.Next(100_000_000, 999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture), tool.Name, args)];
    }

    /// <summary>
    /// Like OpenAI: prefixes from the minimum length on, in 128-token steps, are remembered; the longest one seen before
    /// counts as cached. The prompt is the rendered request, so tools and system prompt form the stable prefix.
    /// </summary>
    private int CachedPrefixTokens(string prompt, int minTokens)
    {
        var ids = tokens.Encode(prompt);
        if (ids.Count < minTokens)
        {
            return 0;
        }

        if (_seenPrefixes.Count > MaxRememberedPrefixes)
        {
            _seenPrefixes.Clear(); // a cold cache, as after the provider's own eviction
        }

        var cached = 0;
        var hash = 14695981039346656037UL;
        for (var i = 0; i < ids.Count; i++)
        {
            hash = (hash ^ (uint)ids[i]) * 1099511628211UL;
            var length = i + 1;
            if (length >= minTokens && (length - minTokens) % PromptCacheStep == 0)
            {
                if (!_seenPrefixes.TryAdd(hash, 0))
                {
                    cached = length;
                }
            }
        }

        return cached;
    }

    /// <summary>Tools first, then messages: the same order as a real prompt, so a long system prompt or tool list is a stable prefix.</summary>
    private static string Render(ProviderChatRequest request)
    {
        var r = request.Request;
        var sb = new StringBuilder();
        sb.Append(request.Model).Append('\n');
        foreach (var tool in r.Tools ?? [])
        {
            sb.Append("tool ").Append(tool.Name).Append(' ').Append(tool.Description).Append(' ').Append(tool.Parameters?.GetRawText()).Append('\n');
        }

        if (r.ResponseFormat is { } format)
        {
            sb.Append("format ").Append(format.Type).Append(' ').Append(format.Schema?.GetRawText()).Append('\n');
        }

        if (r.ToolChoice is { } choice)
        {
            sb.Append("tool_choice ").Append(choice.GetRawText()).Append('\n');
        }

        foreach (var m in r.Messages)
        {
            sb.Append(m.Role).Append(": ").Append(m.Content);
            foreach (var call in m.ToolCalls ?? [])
            {
                sb.Append(" call ").Append(call.Name).Append(call.ArgumentsJson);
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    private static ulong Seed(string text, int drift) => Hash64(drift == 0 ? text : text + "\u0001drift:" + drift);

    private static ulong Hash64(string text) => BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes(text)), 0);

    private static SimulatedFault? Faulted(SimulatedOptions knobs, ulong seed)
        => knobs.Fault != SimulatedFault.None && (int)(seed % 100) < knobs.FaultPercent ? knobs.Fault : null;

    /// <summary>
    /// The configured outage window: the provider is down for everyone, whatever the request says (a marker cannot
    /// lift it), and says so with the status a real provider answers with. Instant, so a seeded history stays fast.
    /// </summary>
    private void ThrowIfOutage(SimulatedOptions knobs)
    {
        if (knobs.OutageFromUtc is not { } from || knobs.OutageUntilUtc is not { } until)
        {
            return;
        }

        var now = time.GetUtcNow().UtcDateTime;
        if (now < DateTime.SpecifyKind(from, DateTimeKind.Utc) || now >= DateTime.SpecifyKind(until, DateTimeKind.Utc))
        {
            return;
        }

        var words = knobs.OutageStatus switch
        {
            408 => "no response before the timeout",
            429 => "rate limit reached",
            500 => "internal error",
            502 => "bad gateway",
            504 => "gateway timeout",
            _ => "service unavailable",
        };
        throw new ProviderException($"{name} returned {knobs.OutageStatus}: {words} (simulated outage until {until:yyyy-MM-dd HH:mm} UTC).",
            knobs.OutageStatus, isRetryable: true);
    }

    private async Task FailBeforeAnswerAsync(AnswerPlan plan, CancellationToken ct)
    {
        if (plan.Fault is { } fault and not SimulatedFault.Cut)
        {
            await ThrowFaultAsync(fault, plan.Knobs, ct);
        }
    }

    private async Task ThrowFaultAsync(SimulatedFault fault, SimulatedOptions knobs, CancellationToken ct)
    {
        switch (fault)
        {
            case SimulatedFault.RateLimit:
                throw new ProviderException($"{name} returned 429: rate limit reached (simulated).", 429, isRetryable: true,
                    TimeSpan.FromSeconds(knobs.RetryAfterSeconds));
            case SimulatedFault.ServerError:
                throw new ProviderException($"{name} returned 500: internal error (simulated).", 500, isRetryable: true);
            case SimulatedFault.Timeout:
                await DelayAsync(TimeSpan.FromSeconds(options.TimeoutSeconds), ct);
                throw new ProviderException($"{name}: no response within {options.TimeoutSeconds} s (simulated).", 408, isRetryable: true);
            default:
                return;
        }
    }

    private async Task PaceAsync(long start, int sent, SimulatedOptions knobs, CancellationToken ct)
    {
        if (knobs.TokensPerSecond <= 0)
        {
            ct.ThrowIfCancellationRequested();
            return;
        }

        // Schedule against the start, not the previous token, so timer granularity does not slow the stream down.
        var due = TimeSpan.FromSeconds((double)sent / knobs.TokensPerSecond);
        var wait = due - time.GetElapsedTime(start);
        await DelayAsync(wait, ct);
    }

    private Task DelayAsync(TimeSpan wait, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return wait > TimeSpan.Zero ? Task.Delay(wait, time, ct) : Task.CompletedTask;
    }

    /// <summary>Token ids → text pieces, one per token; a character split across tokens is sent with the token that completes it.</summary>
    private IEnumerable<string> Pieces(IReadOnlyList<int> ids)
    {
        var pending = new List<int>(2);
        foreach (var id in ids)
        {
            pending.Add(id);
            var text = tokens.Decode(pending);
            if (text.Length > 0 && text[^1] == '\uFFFD' && pending.Count < 4)
            {
                continue;
            }

            pending.Clear();
            yield return text;
        }

        if (pending.Count > 0)
        {
            yield return tokens.Decode(pending);
        }
    }
}
