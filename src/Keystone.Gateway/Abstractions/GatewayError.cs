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

    /// <summary>For <c>budget_exceeded</c>: the cap that refused, as numbers (the API's <c>cap</c> object, the console's local-time message).</summary>
    public BudgetCapRefusal? Cap { get; init; }
}

/// <summary>The cap that refused a call, and why: the call's worst case did not fit what was left.</summary>
/// <param name="Scope">What the cap applies to.</param>
/// <param name="Key">The user id, feature or API key id; null for the tenant cap.</param>
/// <param name="Period">Day or month (periods start at 00:00 UTC).</param>
/// <param name="LimitMicros">The cap.</param>
/// <param name="SpentMicros">Spent this period.</param>
/// <param name="ReservedMicros">Held by calls in flight.</param>
/// <param name="WorstCaseMicros">The refused call's worst case: its prompt plus max tokens at the model's price.</param>
/// <param name="ResetsAtUtc">When the period ends and the counter starts again at zero.</param>
/// <param name="FitsOutputTokens">The largest max tokens with which this call would have fitted; null when even none would.</param>
public sealed record BudgetCapRefusal(BudgetScope Scope, string? Key, BudgetPeriod Period, long LimitMicros, long SpentMicros, long ReservedMicros,
    long WorstCaseMicros, DateTime ResetsAtUtc, int? FitsOutputTokens)
{
    /// <summary>What is left for new calls: the limit less spend and reservations (never negative).</summary>
    public long LeftMicros => Math.Max(0, LimitMicros - SpentMicros - ReservedMicros);

    /// <summary>Why it was refused, in the words of the reservation rule, money as money (no time in it).</summary>
    public string Reason() => Budgets.BudgetText.Reason(this);

    /// <summary>What the caller can do about it.</summary>
    public string Advice() => Budgets.BudgetText.Advice(this);

    /// <summary>Micro-USD as money (<c>$0.002</c>, <c>$12.50</c>), the console's rule.</summary>
    public static string Money(long micros) => Budgets.BudgetText.Money(micros);

    /// <summary>A wait in words (<c>23 h 5 min</c>).</summary>
    public static string Wait(TimeSpan wait) => Budgets.BudgetText.Wait(wait);
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
