using Keystone.Data.Calls;
using Keystone.Gateway;

namespace Keystone.Web.Features.Traces;

/// <summary>Why a call has no answer, in the words support repeats to a customer: the code, what it means, what the provider said.</summary>
/// <param name="Code">The call's machine-readable error code (<c>upstream_unavailable</c>…).</param>
/// <param name="PlainWords">What happened, in one sentence.</param>
/// <param name="ProviderSaid">The last failed attempt's status and message, when a provider was called.</param>
internal sealed record TraceFailure(string Code, string PlainWords, string? ProviderSaid)
{
    /// <summary>The failure of a call that did not answer, or null for an answered call.</summary>
    public static TraceFailure? Of(LlmCall call, TracePayload payload)
    {
        if (call.Status is CallStatus.Ok)
        {
            return null;
        }

        var code = call.ErrorCode ?? call.Status.ToString().ToLowerInvariant();
        var last = payload.Attempts.LastOrDefault(a => a.Error is not null || a.StatusCode is >= 400);
        var said = last is null ? null
            : $"{last.Provider}/{last.Model}{(last.StatusCode is { } s ? $" answered {s}" : "")}{(last.Error is { Length: > 0 } e ? $": {e}" : "")}";
        var tried = payload.Attempts.Count;
        var words = code switch
        {
            GatewayErrorCodes.UpstreamUnavailable or GatewayErrorCodes.UpstreamError =>
                $"The model provider failed: {(tried == 1 ? "the one target" : $"all {tried} targets")} of alias '{call.Alias}' answered with an error, so no answer was produced. The customer's message was not the cause; a replay on another model (or later) can succeed.",
            GatewayErrorCodes.BudgetExceeded => "A spending cap refused the call before any model was asked.",
            GatewayErrorCodes.RateLimitExceeded => "The rate limit refused the call before any model was asked.",
            GatewayErrorCodes.StreamInterrupted => "The stream broke after part of the answer reached the caller; what arrived is shown above.",
            GatewayErrorCodes.Cancelled => "The caller cancelled the call before the answer was complete.",
            GatewayErrorCodes.ModelNotAllowed or GatewayErrorCodes.ModelNotFound => "The requested model is not available to this tenant.",
            GatewayErrorCodes.InvalidRequest => "The provider refused the request as invalid.",
            _ => "The call ended without an answer.",
        };
        return new TraceFailure(code, words, said);
    }
}
