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
        return ReserveAsync(s, ct);
    }

    /// <summary>Step 4: the worst case reserved on every applicable cap; at the limit, block or degrade to the cheaper alias.</summary>
    public async Task ReserveAsync(CallState s, CancellationToken ct)
    {
        if (s.BilledTo == BilledTo.Support)
        {
            return;
        }

        var caps = BudgetLedger.Applicable(s.Snapshot!, s.Context);
        if (caps.Count == 0)
        {
            return;
        }

        var (reservation, rejection) = await ledger.ReserveAsync(s.Context.TenantId, caps, await WorstCaseAsync(s, ct), ct);
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
                (reservation, rejection) = await ledger.ReserveAsync(s.Context.TenantId, caps, await WorstCaseAsync(s, ct), ct);
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

    /// <summary>Prompt tokens × input price + max tokens × output price, for the dearest target of the chain (a fallback may answer).</summary>
    private async Task<long> WorstCaseAsync(CallState s, CancellationToken ct)
    {
        s.PromptTokens ??= tokens.CountPrompt(s.Request);
        long worst = 0;
        foreach (var t in s.Resolved!.Targets)
        {
            if (await prices.FindAsync(s.Context.TenantId, t, s.StartUtc, ct) is { } price)
            {
                worst = Math.Max(worst, price.WorstCaseMicros(s.PromptTokens.Value, s.MaxTokens));
            }
        }

        return worst;
    }

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Tenant {TenantId} at its cap: {Alias} degraded to {Degraded}")]
    private static partial void LogDegraded(ILogger log, Guid tenantId, string alias, string degraded);
}
