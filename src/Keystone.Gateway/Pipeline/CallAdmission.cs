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
            var limit = o.UserRequestsPerMinute;
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

        var (reservation, rejection) = await ReserveOnLedgerAsync(s, caps, await WorstCaseAsync(s, ct), ct);
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

                (reservation, rejection) = await ReserveOnLedgerAsync(s, caps, await WorstCaseAsync(s, ct), ct);
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
            var r = rejection!;
            var key = r.Cap.Key.Length == 0 ? "" : $" '{r.Cap.Key}'";
            throw new GatewayException(new GatewayError(GatewayErrorCodes.BudgetExceeded,
                $"Budget exceeded: the {BudgetText.Of(r.Cap.Scope)}{key} {BudgetText.Of(r.Cap.Period)} cap of {BudgetText.Usd(r.Cap.LimitMicros)} " +
                $"({r.Cap.LimitMicros} micro-USD) would be passed; spent so far {BudgetText.Usd(r.SpentMicros)} ({r.SpentMicros} micro-USD)" +
                $"{(r.ReservedMicros > 0 ? $", {r.ReservedMicros} micro-USD reserved by calls in flight" : "")}; it resets at {r.ResetsAtUtc:yyyy-MM-ddTHH:mm:ssZ}.",
                429, r.ResetsAtUtc - clock.GetUtcNow().UtcDateTime));
        }

        s.Reservation = reservation;
    }

    /// <summary>
    /// The ledger's answer; a database that refuses (down, out of connections) is an honest 503 before any provider is
    /// called, not an unexplained 500.
    /// </summary>
    private async Task<(BudgetReservation? Reservation, BudgetRejection? Rejection)> ReserveOnLedgerAsync(CallState s, IReadOnlyList<CapRow> caps,
        long amountMicros, CancellationToken ct)
    {
        try
        {
            return await ledger.ReserveAsync(s.Context.TenantId, s.CallId, caps, amountMicros, ct);
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
    /// Prompt tokens × input price + max tokens × output price, for the dearest target of the chain (a fallback may
    /// answer). A target without a price counts at the fallback price for unpriced models: unknown is never unlimited.
    /// </summary>
    private async Task<long> WorstCaseAsync(CallState s, CancellationToken ct)
    {
        s.PromptTokens ??= tokens.CountPrompt(s.Request);
        long worst = 0;
        foreach (var t in s.Resolved!.Targets)
        {
            var price = await prices.FindAsync(s.Context.TenantId, t, s.StartUtc, ct)
                ?? await prices.FallbackAsync(s.IsEmbedding, ct)
                ?? throw CallPricing.NotPriced(t, "the price table is empty and Gateway:UnpricedModels names no fallback price, so a cap cannot limit it.");
            worst = Math.Max(worst, price.WorstCaseMicros(s.PromptTokens.Value, s.MaxTokens));
        }

        return worst;
    }

    [LoggerMessage(EventId = 3003, Level = LogLevel.Error, Message = "Reserving on the budget caps of tenant {TenantId} failed")]
    private static partial void LogReserveFailed(ILogger log, Exception ex, Guid tenantId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Tenant {TenantId} at its cap: {Alias} degraded to {Degraded}")]
    private static partial void LogDegraded(ILogger log, Guid tenantId, string alias, string degraded);
}
