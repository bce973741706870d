namespace Keystone.Gateway;

/// <summary>Machine-readable error codes, in OpenAI's error shape on the HTTP API.</summary>
public static class GatewayErrorCodes
{
    public const string BudgetExceeded = "budget_exceeded";
    public const string RateLimitExceeded = "rate_limit_exceeded";
    public const string InvalidApiKey = "invalid_api_key";
    public const string ModelNotAllowed = "model_not_allowed";
    public const string ModelNotFound = "model_not_found";
    public const string UpstreamUnavailable = "upstream_unavailable";
    public const string UpstreamError = "upstream_error";
    public const string StreamInterrupted = "stream_interrupted";
    public const string InvalidRequest = "invalid_request_error";
    public const string Cancelled = "cancelled";
    public const string IdempotencyInProgress = "idempotency_in_progress";

    /// <summary>A change lost a race with another change to the same thing (409): nothing was changed, read and retry.</summary>
    public const string Conflict = "conflict";

    /// <summary>The model has no price row and the platform refuses unpriced models (<c>Gateway:UnpricedModels:Action=Refuse</c>).</summary>
    public const string ModelNotPriced = "model_not_priced";

    /// <summary>A stream's output passed the <c>max_tokens</c> its budget reservation was made for: it was stopped there.</summary>
    public const string OutputLimitExceeded = "output_limit_exceeded";

    /// <summary>The budget counters could not be read or written (the database refused): the call was not made.</summary>
    public const string BudgetUnavailable = "budget_unavailable";

    /// <summary>Recorded on an answered call whose budget settlement failed at first (it was retried behind the request path).</summary>
    public const string SettlementFailed = "settlement_failed";
}

/// <summary>An error the gateway answers with.</summary>
/// <param name="Code">One of <see cref="GatewayErrorCodes"/>.</param>
/// <param name="Message">Plain words for people: for budgets it names the cap, the limit, the spend and the reset time.</param>
/// <param name="HttpStatus">The HTTP status the API answers with.</param>
/// <param name="RetryAfter">When a retry may succeed, if known.</param>
/// <param name="Param">The offending request field, for invalid requests.</param>
public sealed record GatewayError(string Code, string Message, int HttpStatus, TimeSpan? RetryAfter = null, string? Param = null)
{
    /// <summary>The API key's request window when the refusal came after it was counted (rate limit, budget, upstream).</summary>
    public RequestRateLimit? RateLimit { get; init; }
}

/// <summary>
/// An API key's requests-per-minute window after a call was counted: the limit, the requests left, and the time until
/// the current minute closes. Answered as OpenAI's <c>x-ratelimit-limit-requests</c> / <c>-remaining-requests</c> /
/// <c>-reset-requests</c> headers.
/// </summary>
public sealed record RequestRateLimit(int Limit, int Remaining, TimeSpan Reset);

/// <summary>Thrown by non-streaming gateway calls that do not produce an answer.</summary>
public sealed class GatewayException(GatewayError error, CallOutcome? outcome = null) : Exception(error.Message)
{
    public GatewayError Error { get; } = error;

    /// <summary>What was recorded for the failed call, when anything was.</summary>
    public CallOutcome? Outcome { get; } = outcome;
}
