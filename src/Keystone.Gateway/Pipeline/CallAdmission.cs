using Keystone.Data.Calls;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Steps 3 and 4 of the pipeline, what a call must pass before any provider is called: the request-per-minute limits
/// of its API key and user, then the worst-case cost reserved on every budget cap that applies. A refusal is a
/// <see cref="GatewayException"/> that names the limit.
/// </summary>
internal sealed partial class CallAdmission(
    RequestRateLimiter rateLimiter,
    BudgetLedger ledger,
    AliasResolver resolver,
    CallPricing prices,
    IPromptTokenCounter tokens,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock,
    ILogger<CallAdmission> log)
{
    /// <summary>Step 3: counts the call against its API key's and its user's window.</summary>
    public void CheckRateLimits(CallState s)
    {
        var o = options.CurrentValue;
        var tenant = s.Context.TenantId;
        if (s.Context.ApiKeyId is { } keyId)
        {
            var limit = (s.Snapshot!.ApiKeyRequestsPerMinute.GetValueOrDefault(keyId) ?? s.Snapshot.PlanRequestsPerMinute) ?? o.ApiKeyRequestsPerMinute;
            var allowed = rateLimiter.TryAcquire($"k:{tenant:N}:{keyId:N}", limit, out var state);
            // The key's window is what its holder can act on (OpenAI's x-ratelimit-* headers): every answer carries it.
            s.RateLimit = state;
            if (!allowed)
            {
                throw RateLimited($"This API key's limit of {limit} requests per minute is reached.", state.Reset);
            }
        }

        if ((s.Context.UserId ?? s.Context.EndUser) is { } user)
        {
            // The tenant's own limit (set on the budgets page or PUT /api/v1/budgets), else the platform's.
            var limit = o.UserRequestsPerMinuteFor(s.Snapshot!.UserRequestsPerMinute);
            if (!rateLimiter.TryAcquire($"u:{tenant:N}:{user}", limit, out var state))
            {
                throw RateLimited($"The limit of {limit} requests per minute for user '{user}' is reached.", state.Reset);
            }
        }

        // The headers of a refusal describe the key's window too (not the user's), so a client reads one limit throughout.
        GatewayException RateLimited(string message, TimeSpan retry)
            => new(new GatewayError(GatewayErrorCodes.RateLimitExceeded, message, 429, retry) { RateLimit = s.RateLimit });
    }

    /// <summary>Step 4 for embeddings: every input is prompt, nothing is output.</summary>
    public Task ReserveEmbeddingAsync(CallState s, IReadOnlyList<string> inputs, CancellationToken ct)
    {
        s.PromptTokens = inputs.Sum(tokens.CountText);
        s.MaxTokens = 0;
        s.IsEmbedding = true;
        return ReserveAsync(s, ct);
    }

    /// <summary>Step 4: the worst case reserved on every applicable cap; at the limit, block or degrade to the cheaper alias.</summary>
    public async Task ReserveAsync(CallState s, CancellationToken ct)
    {
        if (options.CurrentValue.UnpricedModels.Action == UnpricedModelAction.Refuse)
        {
            await RefuseUnpricedAsync(s, s.Resolved!, ct);
        }

        if (s.BilledTo == BilledTo.Support)
        {
            return;
        }

        var caps = BudgetLedger.Applicable(s.Snapshot!, s.Context);
        if (caps.Count == 0)
        {
            return;
        }

        var (reservation, rejection) = await ReserveWorstCaseAsync(s, caps, ct);
        if (reservation is null && s.Snapshot!.ActionAtLimit == BudgetAction.Degrade
            && options.CurrentValue.DegradeTo.TryGetValue(s.Resolved!.Alias, out var cheaper))
        {
            ResolvedModel? degraded = null;
            try
            {
                degraded = resolver.Resolve(cheaper, s.Snapshot);
            }
            catch (GatewayException)
            {
                // The cheaper alias is not allowed for this tenant: the cap blocks.
            }

            if (degraded is not null)
            {
                var original = s.Resolved;
                s.Resolved = degraded;
                if (options.CurrentValue.UnpricedModels.Action == UnpricedModelAction.Refuse)
                {
                    await RefuseUnpricedAsync(s, degraded, ct);
                }

                (reservation, rejection) = await ReserveWorstCaseAsync(s, caps, ct);
                if (reservation is null)
                {
                    s.Resolved = original;
                }
                else
                {
                    LogDegraded(log, s.Context.TenantId, original.Alias, degraded.Alias);
                    s.Activity?.SetTag("keystone.degraded_to", degraded.Alias);
                }
            }
        }

        if (reservation is null)
        {
            throw await RefusedAsync(s, rejection!, ct);
        }

        s.Reservation = reservation;
    }

    /// <summary>
    /// How far a cap must be from its limit for the rough bound to be reserved: after the bound's worst case it must still
    /// have room for this many more of it. Near the limit every call is counted exactly, so a refusal always comes from the
    /// exact count, and what rough holds add while other calls are in flight is a small share of the room (decision 0048).
    /// </summary>
    internal const int FarFactor = 64;

    /// <summary>
    /// The worst case reserved on <paramref name="caps"/>: first from the prompt's upper bound (its UTF-8 length, no
    /// tokenizing) while every cap is far from its limit; else, or when that does not fit, from the exact token count.
    /// Only the exact attempt's refusal is returned. The bound never becomes <see cref="CallState.PromptTokens"/>: usage the
    /// provider does not report is still estimated from the exact count.
    /// </summary>
    private async Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveWorstCaseAsync(CallState s, IReadOnlyList<CapRow> caps,
        CancellationToken ct)
    {
        var prices = await PricesAsync(s, ct);
        if (s.PromptTokens is null)
        {
            var rough = WorstCase(prices, tokens.PromptUpperBound(s.Request), s.MaxTokens);
            if (rough <= long.MaxValue / (FarFactor + 1))
            {
                var (held, _) = await ReserveOnLedgerAsync(s, caps, rough, rough * FarFactor, ct);
                if (held is not null)
                {
                    return (held, null);
                }
            }

            s.PromptTokens = tokens.CountPrompt(s.Request);
        }

        return await ReserveOnLedgerAsync(s, caps, WorstCase(s, prices, s.MaxTokens), 0, ct);
    }

    /// <summary>
    /// The ledger's answer; a database that refuses (down, out of connections) is an honest 503 before any provider is
    /// called, not an unexplained 500.
    /// </summary>
    private async Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveOnLedgerAsync(CallState s, IReadOnlyList<CapRow> caps,
        long amountMicros, long roomMicros, CancellationToken ct)
    {
        try
        {
            return await ledger.ReserveAsync(s.Context.TenantId, s.CallId, caps, amountMicros, roomMicros, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            LogReserveFailed(log, ex, s.Context.TenantId);
            throw new GatewayException(new GatewayError(GatewayErrorCodes.BudgetUnavailable,
                "The budget caps could not be checked (the database did not answer), so the call was not made. Retry in a moment.", 503,
                TimeSpan.FromSeconds(5)));
        }
    }

    /// <summary><c>Gateway:UnpricedModels:Action=Refuse</c>: any target of the chain without a price refuses the call.</summary>
    private async Task RefuseUnpricedAsync(CallState s, ResolvedModel resolved, CancellationToken ct)
    {
        foreach (var t in resolved.Targets)
        {
            if (await prices.FindAsync(s.Context.TenantId, t, s.StartUtc, ct) is null)
            {
                throw CallPricing.NotPriced(t, "this platform refuses models without a price (Gateway:UnpricedModels:Action=Refuse).");
            }
        }
    }

    /// <summary>
    /// The refusal: its message (money as money, the reset in UTC, what to do), the cap as numbers for the API's
    /// <c>cap</c> object and the console, and the count and reason kept on the cap's counter for the budgets page.
    /// </summary>
    private async Task<GatewayException> RefusedAsync(CallState s, BudgetRejection r, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        s.PromptTokens ??= tokens.CountPrompt(s.Request);
        var prices = await PricesAsync(s, ct);
        var worst = WorstCase(s, prices, s.MaxTokens);
        var left = Math.Max(0, r.Cap.LimitMicros - r.SpentMicros - r.ReservedMicros);
        var refusal = new BudgetCapRefusal(r.Cap.Scope, r.Cap.Key.Length == 0 ? null : r.Cap.Key, r.Cap.Period, r.Cap.LimitMicros, r.SpentMicros,
            r.ReservedMicros, worst, r.ResetsAtUtc, FittingMaxTokens(s, prices, left));
        var periodStart = r.Cap.Period == BudgetPeriod.Day ? r.ResetsAtUtc.AddDays(-1) : r.ResetsAtUtc.AddMonths(-1);
        await ledger.RecordRefusalAsync(s.Context.TenantId, r.Cap.BudgetId, periodStart, BudgetText.Reason(refusal), now, ct);
        return new GatewayException(new GatewayError(GatewayErrorCodes.BudgetExceeded, BudgetText.RefusalMessage(refusal, now), 429,
            r.ResetsAtUtc - now) { Cap = refusal });
    }

    /// <summary>
    /// The price of every target of the chain; the worst case is prompt tokens × input price + max tokens × output price
    /// for the dearest (a fallback may answer). A target without a price counts at the fallback price for unpriced models:
    /// unknown is never unlimited.
    /// </summary>
    private async Task<List<GatewayPrice>> PricesAsync(CallState s, CancellationToken ct)
    {
        var list = new List<GatewayPrice>(s.Resolved!.Targets.Count);
        foreach (var t in s.Resolved.Targets)
        {
            list.Add(await prices.FindAsync(s.Context.TenantId, t, s.StartUtc, ct)
                ?? await prices.FallbackAsync(s.IsEmbedding, ct)
                ?? throw CallPricing.NotPriced(t, "the price table is empty and Gateway:UnpricedModels names no fallback price, so a cap cannot limit it."));
        }

        return list;
    }

    private static long WorstCase(CallState s, List<GatewayPrice> prices, int maxTokens) => WorstCase(prices, s.PromptTokens ?? 0, maxTokens);

    private static long WorstCase(List<GatewayPrice> prices, int promptTokens, int maxTokens)
        => prices.Count == 0 ? 0 : prices.Max(p => p.WorstCaseMicros(promptTokens, maxTokens));

    /// <summary>
    /// The largest max tokens (below the one asked) whose worst case fits <paramref name="leftMicros"/>, by bisection (the
    /// worst case grows with max tokens); null when the prompt alone does not fit or the call asked for no output.
    /// </summary>
    private static int? FittingMaxTokens(CallState s, List<GatewayPrice> prices, long leftMicros)
    {
        if (s.MaxTokens <= 1 || WorstCase(s, prices, 1) > leftMicros)
        {
            return null;
        }

        int lo = 1, hi = s.MaxTokens - 1;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo + 1) / 2);
            if (WorstCase(s, prices, mid) <= leftMicros)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    [LoggerMessage(EventId = 3003, Level = LogLevel.Error, Message = "Reserving on the budget caps of tenant {TenantId} failed")]
    private static partial void LogReserveFailed(ILogger log, Exception ex, Guid tenantId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Tenant {TenantId} at its cap: {Alias} degraded to {Degraded}")]
    private static partial void LogDegraded(ILogger log, Guid tenantId, string alias, string degraded);
}
