using System.Text;
using Keystone.Data.Calls;
using Keystone.Data.Playground;
using Keystone.Gateway;
using Keystone.Web.Components.Shared;

namespace Keystone.Web.Features.Playground;

/// <summary>
/// Streams one answer from the gateway into a <see cref="ConversationMessage"/> used as view state: text
/// arrives in a buffer and reaches the message when the page's <see cref="RenderBatcher"/> ticks
/// (<see cref="Sync"/>); ids, who answered, usage, cost and timings are copied from the gateway's events.
/// </summary>
internal sealed class AnswerStreamer(ILlmGateway gateway, TimeProvider time, ConversationMessage message)
{
    private readonly Lock _gate = new();
    private readonly StringBuilder _text = new();
    private bool _changed;

    /// <summary>The message being filled.</summary>
    public ConversationMessage Message { get; } = message;

    /// <summary>True from creation until the stream ended (completed, stopped or failed), so the placeholder renders as streaming.</summary>
    public bool IsStreaming { get; private set; } = true;

    /// <summary>
    /// Streams <paramref name="request"/> into <see cref="Message"/>. Returns normally for completed, stopped
    /// (<paramref name="ct"/> cancelled) and failed-after-tokens answers; throws <see cref="GatewayException"/>
    /// when the gateway refused or could not start the call (budget, rate limit, every provider down).
    /// </summary>
    public async Task RunAsync(ChatRequest request, CallContext context, Action onText, CancellationToken ct)
    {
        var message = Message;
        message.State = AnswerState.Complete;
        var started = time.GetTimestamp();
        try
        {
            await foreach (var e in gateway.StreamAsync(request, context, ct).WithCancellation(ct))
            {
                switch (e)
                {
                    case StreamStarted s:
                        message.CallId = s.CallId;
                        message.TraceId = s.TraceId;
                        message.Provider = s.Provider;
                        message.Model = s.Model;
                        break;
                    case TextDelta d:
                        if (message.TtftMs is null)
                        {
                            message.TtftMs = (int)time.GetElapsedTime(started).TotalMilliseconds;
                        }

                        lock (_gate)
                        {
                            _text.Append(d.Text);
                            _changed = true;
                        }

                        onText();
                        break;
                    case StreamCompleted c:
                        Apply(message, c.Result.Outcome);
                        message.InputTokens = c.Result.Usage.InputTokens;
                        message.OutputTokens = c.Result.Usage.OutputTokens;
                        message.CachedInputTokens = c.Result.Usage.CachedInputTokens;
                        message.State = AnswerState.Complete;
                        break;
                    case StreamFailed f:
                        if (f.Outcome is { } outcome)
                        {
                            Apply(message, outcome);
                        }

                        if (f.Error.Code == GatewayErrorCodes.Cancelled)
                        {
                            message.State = AnswerState.Stopped;
                        }
                        else
                        {
                            message.State = AnswerState.Failed;
                            message.Error = PlainWords.For(f.Error);
                        }

                        break;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stop: the gateway aborts the upstream call and records it as cancelled with an estimated cost.
            message.State = AnswerState.Stopped;
            message.CostStatus = CostStatus.Estimated;
        }
        finally
        {
            message.LatencyMs ??= (int)time.GetElapsedTime(started).TotalMilliseconds;
            IsStreaming = false;
            Sync();
        }
    }

    /// <summary>Copies buffered text to the message; true when it changed. Call on the renderer's thread.</summary>
    public bool Sync()
    {
        lock (_gate)
        {
            if (!_changed)
            {
                return false;
            }

            Message.Content = _text.ToString();
            _changed = false;
            return true;
        }
    }

    private static void Apply(ConversationMessage message, CallOutcome outcome)
    {
        message.CallId = outcome.CallId;
        message.TraceId = outcome.TraceId;
        message.Provider = outcome.Provider ?? message.Provider;
        message.Model = outcome.Model ?? message.Model;
        message.FellBack = outcome.FellBack;
        message.CacheStatus = outcome.CacheStatus;
        message.CostMicros = outcome.CostMicros;
        message.CostStatus = outcome.CostStatus;
        message.LatencyMs = outcome.LatencyMs;
        if (outcome.TtftMs is { } ttft)
        {
            message.TtftMs = ttft;
        }
    }
}
