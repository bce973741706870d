namespace Keystone.Data.Calls;

/// <summary>How a call ended. Stored as text.</summary>
public enum CallStatus
{
    /// <summary>Answered completely.</summary>
    Ok,

    /// <summary>Every target failed, or the request was invalid upstream.</summary>
    Error,

    /// <summary>The caller cancelled; output tokens are estimated.</summary>
    Cancelled,

    /// <summary>A stream failed after tokens reached the caller; recorded with the tokens received.</summary>
    Incomplete,

    /// <summary>Refused before any provider was called (budget, rate limit, model not allowed).</summary>
    Rejected,
}

/// <summary>How sure the recorded cost is.</summary>
public enum CostStatus
{
    /// <summary>From the provider's reported usage and a known price.</summary>
    Exact,

    /// <summary>Tokens estimated (cancelled stream, provider gave no usage).</summary>
    Estimated,

    /// <summary>
    /// No price for the model at the time of the call and no fallback price either (an empty price table): cost 0,
    /// never shown as a silent $0. A capped call is refused rather than run this way.
    /// </summary>
    Unknown,

    /// <summary>
    /// No price for the model at the time of the call: the tokens are costed at the gateway's fallback price for unpriced
    /// models (<c>Gateway:UnpricedModels</c>, by default the dearest price in the table), an upper bound counted against the caps.
    /// </summary>
    Fallback,
}

/// <summary>Who pays the provider for a call.</summary>
public enum BilledTo
{
    /// <summary>The platform's own provider keys (cost counts against the tenant's caps).</summary>
    Platform,

    /// <summary>The tenant's own key (BYOK).</summary>
    TenantKey,

    /// <summary>Support replays: platform cost, not counted against the tenant's caps.</summary>
    Support,

    /// <summary>
    /// A model run in Keystone's own process (the Local provider): no provider bills it, so it is priced at zero, yet
    /// recorded, metered and reserved against the caps like every call.
    /// </summary>
    Local,
}

/// <summary>Whether a cache answered.</summary>
public enum CacheStatus
{
    None,
    Exact,
    Semantic,
}
