using Keystone.Gateway;

namespace Keystone.Web.Features.Playground;

/// <summary>Gateway errors in words a playground user can act on.</summary>
internal static class PlainWords
{
    /// <summary>A sentence for the error; budget and rate-limit messages keep the gateway's own text (it names the cap).</summary>
    public static string For(GatewayError error) => error.Code switch
    {
        GatewayErrorCodes.BudgetExceeded => error.Message,
        GatewayErrorCodes.RateLimitExceeded => error.RetryAfter is { } wait
            ? $"{error.Message} Try again in {Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))} s."
            : error.Message,
        GatewayErrorCodes.UpstreamUnavailable => "No model provider could answer right now. Your message is kept; try again in a moment or pick another model.",
        GatewayErrorCodes.UpstreamError => $"The model provider returned an error: {error.Message}",
        GatewayErrorCodes.StreamInterrupted => "The answer was cut off: the provider's stream broke after it started. The partial answer is kept.",
        GatewayErrorCodes.ModelNotAllowed => $"This model is not allowed for your workspace. {error.Message}",
        GatewayErrorCodes.ModelNotFound => $"This model does not exist. {error.Message}",
        GatewayErrorCodes.InvalidRequest => $"The request was not accepted: {error.Message}",
        _ => error.Message,
    };
}
