using System.Diagnostics;
using System.Runtime.CompilerServices;
using Keystone.Data.Calls;
using Keystone.Gateway.Credentials;
using Keystone.Gateway.Routing;
using Keystone.Gateway.Telemetry;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Step 6 of the pipeline: the resolved targets in order, each attempt with its own timeout, behind its target's
/// circuit breaker, falling back on 429, 5xx, timeouts and connection failures, every attempt recorded in the call's
/// state. Streamed, non-streamed and embedding calls share the one attempt loop (<see cref="RunAsync"/>): a
/// non-streamed answer is a stream of one event, and a stream is an ordinary attempt until its first token reaches the
/// caller. After that it can no longer fall back (the caller would get a spliced answer); a failure then ends it with
/// <see cref="AnswerInterrupted"/>.
/// </summary>
internal sealed class ProviderChain(
    ProviderDirectory providers,
    CircuitBreakers circuits,
    ProviderCredentialStore credentials,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock)
{
    /// <summary>One attempt's request to a provider, as a sequence of events.</summary>
    private delegate IAsyncEnumerable<ProviderStreamEvent> AttemptCall(IModelProvider provider, ModelTarget target,
        ProviderCredentials? credentials, CancellationToken ct);

    /// <summary>A complete answer from the first target that gives one. Throws <see cref="GatewayException"/> (not yet recorded) when none does.</summary>
    public async Task<ProviderChatResponse> CompleteAsync(CallState s, CancellationToken ct)
    {
        ProviderChatResponse? response = null;
        await foreach (var e in RunAsync(s, (p, t, creds, token) => Once(() => p.CompleteAsync(Request(s, t, creds), token)), retryLastTarget: true, ct))
        {
            response = (e as WholeAnswer<ProviderChatResponse>)?.Answer ?? response;
        }

        return response!;
    }

    /// <summary>
    /// The provider's stream events, with <see cref="AnswerStarted"/> before the first token and, when the answering
    /// target fails after it, <see cref="AnswerInterrupted"/> as the last event. Failures before the first token fall
    /// back; with no target left it throws <see cref="GatewayException"/> (not yet recorded).
    /// </summary>
    public IAsyncEnumerable<ProviderStreamEvent> StreamAsync(CallState s, CancellationToken ct)
        => RunAsync(s, (p, t, creds, token) => p.StreamAsync(Request(s, t, creds), token), retryLastTarget: true, ct);

    /// <summary>Embeddings from the first target that gives them.</summary>
    /// <remarks>
    /// No second try on the last target: embeddings mostly serve the semantic cache's lookup, where a failure is a
    /// miss and a retry would only delay the chat call waiting behind it.
    /// </remarks>
    public async Task<ProviderEmbeddingResponse> EmbedAsync(CallState s, EmbeddingRequest request, CancellationToken ct)
    {
        ProviderEmbeddingResponse? response = null;
        await foreach (var e in RunAsync(s, (p, t, creds, token) => Once(() => p.EmbedAsync(t.Model, request.Inputs, request.Dimensions, creds, token)),
            retryLastTarget: false, ct))
        {
            response = (e as WholeAnswer<ProviderEmbeddingResponse>)?.Answer ?? response;
        }

        return response!;
    }

    private static ProviderChatRequest Request(CallState s, ModelTarget target, ProviderCredentials? creds)
        => new(target.Model, s.Request, s.MaxTokens, creds);

    private static async IAsyncEnumerable<ProviderStreamEvent> Once<T>(Func<Task<T>> call)
    {
        // Called inside the enumeration, so a provider that throws at once fails the attempt like any other failure.
        yield return new WholeAnswer<T>(await call());
    }

    /// <summary>The one attempt loop.</summary>
    private async IAsyncEnumerable<ProviderStreamEvent> RunAsync(CallState s, AttemptCall call, bool retryLastTarget,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var targets = s.Resolved!.Targets;
        for (var i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            for (var retried = false; TryStartAttempt(s, target, out var provider); retried = true)
            {
                var left = TimeLeft(s);
                if (left <= TimeSpan.Zero)
                {
                    // The call's whole allowance is spent: its reservation must not outlive the longest possible call.
                    circuits.Abandon(target);
                    s.Attempts.Add(new Attempt(target.Provider, target.Model, "timeout", 408, "The call reached Gateway:MaxCallDuration.", 0));
                    throw new GatewayException(Unavailable(s));
                }

                var creds = await CredentialsForAsync(s, target, ct);
                using var attemptActivity = StartAttemptActivity(s, target);
                using var timeout = new CancellationTokenSource(left < options.CurrentValue.AttemptTimeout ? left : options.CurrentValue.AttemptTimeout, clock);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
                var started = clock.GetTimestamp();
                FirstTokenStages.Mark(FirstTokenStages.Stage.AttemptStart);
                var events = call(provider, target, creds, linked.Token).GetAsyncEnumerator(linked.Token);
                var delivered = false;
                var ended = false;
                Failure? failure = null;
                try
                {
                    while (true)
                    {
                        var t0 = clock.GetTimestamp();
                        var (has, error) = await NextAsync(events);
                        s.ExternalTicks += clock.GetTimestamp() - t0;
                        if (error is not null)
                        {
                            ended = true;
                            failure = Classify(error, timeout, ct);
                            s.Attempts.Add(new Attempt(target.Provider, target.Model, failure.Outcome, failure.Status, failure.Message, ElapsedMs(started)));
                            attemptActivity?.SetStatus(ActivityStatusCode.Error, failure.Outcome);
                            break;
                        }

                        if (!has)
                        {
                            ended = true;
                            circuits.Success(target);
                            s.Attempts.Add(new Attempt(target.Provider, target.Model, "ok", null, null, ElapsedMs(started)));
                            s.Target = target;
                            s.FellBack = i > 0;
                            yield break;
                        }

                        var e = events.Current;
                        var y0 = clock.GetTimestamp();
                        if (!delivered && e is ProviderTextDelta or ProviderToolCallDelta)
                        {
                            // The first token is out: the attempt timeout no longer applies (the call's maximum duration
                            // does), and no fallback may follow.
                            delivered = true;
                            var rest = TimeLeft(s);
                            timeout.CancelAfter(rest > TimeSpan.Zero ? rest : TimeSpan.FromMilliseconds(1));
                            s.Target = target;
                            s.FellBack = i > 0;
                            s.TtftMs = ElapsedMs(s.StartTimestamp);
                            FirstTokenStages.Mark(FirstTokenStages.Stage.ChainFirstToken);
                            yield return new AnswerStarted(target);
                        }

                        yield return e;
                        // Time spent by the caller reading is not gateway overhead either.
                        s.ExternalTicks += clock.GetTimestamp() - y0;
                    }
                }
                finally
                {
                    if (!ended)
                    {
                        // The caller stopped reading: abort the upstream request before releasing it. No verdict on the target.
                        await linked.CancelAsync();
                        circuits.Abandon(target);
                    }

                    await events.DisposeAsync();
                }

                if (failure.CallerCancelled)
                {
                    circuits.Abandon(target);
                    throw new OperationCanceledException(ct);
                }

                if (delivered)
                {
                    // Tokens reached the caller: never fall back (the answer would be spliced), never end silently.
                    circuits.Failure(target);
                    yield return new AnswerInterrupted(target, failure.Message);
                    yield break;
                }

                if (!failure.Retryable)
                {
                    // A request error says nothing against the target's health.
                    circuits.Success(target);
                    throw new GatewayException(UpstreamRequestError(target, failure));
                }

                circuits.Failure(target);
                if (!retryLastTarget || !ShouldRetrySameTarget(failure, retried, i, targets.Count))
                {
                    break;
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

        if (providers.Find(target.Provider) is Providers.Local.LocalProvider)
        {
            // In process: nobody's key, nobody's bill.
            s.BilledTo = BilledTo.Local;
            return null;
        }

        try
        {
            var creds = await credentials.GetForCallAsync(s.Context.TenantId, target.Provider, ct);
            s.BilledTo = creds is null ? s.Context.BilledToOverride ?? BilledTo.Platform : BilledTo.TenantKey;
            return creds;
        }
        catch
        {
            // The attempt never reached the target: no verdict on its health, and a half-open probe must not stay taken.
            circuits.Abandon(target);
            throw;
        }
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

    /// <summary>One step of an attempt, its failure as a value (an iterator cannot yield inside a try with a catch).</summary>
    internal static async ValueTask<(bool Has, Exception? Error)> NextAsync<T>(IAsyncEnumerator<T> e)
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

    /// <summary>What is left of <see cref="GatewayOptions.MaxCallDuration"/> for this call.</summary>
    private TimeSpan TimeLeft(CallState s) => options.CurrentValue.MaxCallDuration - clock.GetElapsedTime(s.StartTimestamp);

    private int ElapsedMs(long startTimestamp) => (int)Math.Min(int.MaxValue, clock.GetElapsedTime(startTimestamp).TotalMilliseconds);
}
