using System.Diagnostics;
using Keystone.Data.Calls;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Steps 7 to 9 of the pipeline, once per call whatever its end: the actual cost from the provider's usage and the
/// effective-dated price, the budget reservation replaced by it, the call row and trace queued for the recorder, and
/// the metrics.
/// </summary>
internal sealed partial class CallSettlement(
    BudgetLedger ledger,
    CallRecorder recorder,
    CallPricing prices,
    IPromptTokenCounter tokens,
    GatewayTelemetry telemetry,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock,
    ILogger<CallSettlement> log)
{
    /// <summary>
    /// Settles the call exactly once: cost, budget, record, metrics. Returns what the caller is told. Never throws for a
    /// database that refuses: a settlement that fails is retried behind the request path and the call is recorded with
    /// <c>settlement_failed</c>, so an answered call is always answered and recorded.
    /// </summary>
    public async Task<CallOutcome> SettleAsync(CallState s, CallStatus status, Usage usage, bool estimated, CachedAnswer? answer,
        string? errorCode, CacheStatus cacheStatus = CacheStatus.None, long savedMicros = 0)
    {
        s.Recorded = true;
        var (cost, costStatus) = await CostAsync(s, usage, estimated, cacheStatus);
        if (s.Reservation is { } reservation)
        {
            if (s.StoppedAtReservation)
            {
                // The stream was cut where its output passed max_tokens: what was received, never above what was reserved.
                cost = Math.Min(cost, reservation.AmountMicros);
            }
            else if (cost > reservation.AmountMicros && reservation.Caps.Count > 0)
            {
                // The provider reports more than it was allowed (it ignored max_tokens): that was spent and is settled as
                // such, so the cap refuses the next call; the overshoot is bounded by this one answer (docs/api.md).
                LogAboveReservation(log, s.Context.TenantId, s.CallId, cost, reservation.AmountMicros);
            }

            // An unknown price (no fallback either: only an uncapped call gets here) settles at the reserved worst case.
            var settled = costStatus == CostStatus.Unknown ? reservation.AmountMicros : cost;
            if (!await ledger.SettleAsync(reservation, settled, s.Snapshot?.SoftThresholdsPercent ?? [], CancellationToken.None))
            {
                errorCode ??= GatewayErrorCodes.SettlementFailed;
            }
        }

        var now = clock.GetTimestamp();
        var latencyMs = ElapsedMs(s.StartTimestamp);
        var overheadMs = Math.Max(0, clock.GetElapsedTime(s.StartTimestamp, now).TotalMilliseconds
            - TimeSpan.FromTicks(s.ExternalTicks * TimeSpan.TicksPerSecond / clock.TimestampFrequency).TotalMilliseconds);
        var call = ToCallRow(s, status, usage, cost, costStatus, cacheStatus, savedMicros, errorCode, latencyMs);
        if (!options.CurrentValue.RecordingDisabledForBenchmarks)
        {
            await recorder.EnqueueAsync(new CallRecord(call, s.Request, answer, [.. s.Attempts]));
        }

        RecordMetrics(s, call, overheadMs);
        s.Activity?.SetTag("keystone.status", status.ToString());
        s.Activity?.SetTag("keystone.cost_micros", cost);
        if (status is not CallStatus.Ok)
        {
            s.Activity?.SetStatus(ActivityStatusCode.Error, errorCode);
        }

        return new CallOutcome
        {
            CallId = s.CallId,
            TraceId = s.TraceId,
            // A cache hit names the model whose answer it serves (the X-Keystone-Provider / -Model headers); its call
            // row does not, so per-model latency and call counts stay those of real provider calls.
            Provider = call.Provider ?? s.CacheHit?.Provider,
            Model = call.Model ?? s.CacheHit?.Model,
            CostMicros = cost,
            CostStatus = costStatus,
            BilledTo = s.BilledTo,
            CacheStatus = cacheStatus,
            RateLimit = s.RateLimit,
            SavedCostMicros = savedMicros,
            Attempts = [.. s.Attempts],
            FellBack = s.FellBack,
            Status = status,
            OverheadMs = overheadMs,
            LatencyMs = latencyMs,
            TtftMs = s.TtftMs,
            CacheSimilarity = s.CacheHit?.Similarity,
        };
    }

    /// <summary>A refusal before any provider was called (limits, budget, validation) counts as a rejection.</summary>
    public void CountRejection(GatewayError error) => telemetry.Rejections.Add(1, new KeyValuePair<string, object?>("code", error.Code));

    /// <summary>Usage when the provider reported none (cancelled or cut-off streams): the counted prompt and the output received.</summary>
    public Usage Estimate(CallState s, string received)
    {
        s.PromptTokens ??= tokens.CountPrompt(s.Request);
        return new Usage(s.PromptTokens.Value, tokens.CountText(received));
    }

    /// <summary>
    /// Only a provider's answer costs anything. A model without a price is costed at the fallback price for unpriced
    /// models (<c>Fallback</c>, counted against the caps); <c>unknown</c> (never a silent $0) only with no fallback at all.
    /// </summary>
    private async Task<(long Cost, CostStatus Status)> CostAsync(CallState s, Usage usage, bool estimated, CacheStatus cacheStatus)
    {
        var status = estimated ? CostStatus.Estimated : CostStatus.Exact;
        if (s.Target is not { } target || cacheStatus != CacheStatus.None || (usage.InputTokens <= 0 && usage.OutputTokens <= 0))
        {
            return (0, status);
        }

        if (await prices.FindAsync(s.Context.TenantId, target, s.StartUtc, CancellationToken.None) is { } price)
        {
            return (price.CostMicros(usage), status);
        }

        return await prices.FallbackAsync(s.IsEmbedding, CancellationToken.None) is { } fallback
            ? (fallback.CostMicros(usage), CostStatus.Fallback)
            : (0, CostStatus.Unknown);
    }

    private static LlmCall ToCallRow(CallState s, CallStatus status, Usage usage, long cost, CostStatus costStatus, CacheStatus cacheStatus,
        long savedMicros, string? errorCode, int latencyMs) => new()
    {
        Id = s.CallId,
        TraceId = s.TraceId,
        TenantId = s.Context.TenantId,
        UserId = s.Context.UserId,
        EndUser = s.Context.EndUser,
        ApiKeyId = s.Context.ApiKeyId,
        Feature = string.IsNullOrWhiteSpace(s.Context.Feature) ? "default" : s.Context.Feature,
        RequestId = s.Context.RequestId,
        PromptName = s.Context.PromptName,
        PromptVersionId = s.Context.PromptVersionId,
        Alias = s.Request.Model ?? "",
        Provider = s.Target?.Provider,
        Model = s.Target?.Model,
        Streamed = s.Streamed,
        InputTokens = usage.InputTokens,
        OutputTokens = usage.OutputTokens,
        CachedInputTokens = usage.CachedInputTokens,
        CacheWriteTokens = usage.CacheWriteTokens,
        CacheWrite1hTokens = usage.CacheWrite1hTokens,
        ReasoningTokens = usage.ReasoningTokens,
        CostMicros = cost,
        CostStatus = costStatus,
        BilledTo = s.BilledTo,
        CacheStatus = cacheStatus,
        SavedCostMicros = savedMicros,
        Attempts = s.Attempts.Count(a => a.Outcome is not ("circuit_open")),
        FellBack = s.FellBack,
        Status = status,
        ErrorCode = errorCode,
        LatencyMs = latencyMs,
        TtftMs = s.TtftMs,
        ReplayOfCallId = s.Context.ReplayOfCallId,
        CacheSourceCallId = s.CacheHit?.SourceCallId,
        CacheSimilarity = s.CacheHit?.Similarity,
        CreatedUtc = s.StartUtc,
    };

    private void RecordMetrics(CallState s, LlmCall call, double overheadMs)
    {
        var tags = new TagList { { "status", call.Status.ToString() }, { "provider", call.Provider }, { "model", call.Model }, { "feature", call.Feature } };
        telemetry.Calls.Add(1, tags);
        telemetry.Latency.Record(call.LatencyMs, tags);
        telemetry.Overhead.Record(overheadMs, tags);
        if (s.TtftMs is { } ttft)
        {
            telemetry.Ttft.Record(ttft, tags);
        }

        if (call.CostMicros > 0)
        {
            telemetry.Cost.Add(call.CostMicros, tags);
        }

        if (call.InputTokens > 0)
        {
            telemetry.Tokens.Add(call.InputTokens, new TagList { { "type", "input" }, { "model", call.Model } });
        }

        if (call.OutputTokens > 0)
        {
            telemetry.Tokens.Add(call.OutputTokens, new TagList { { "type", "output" }, { "model", call.Model } });
        }

        if (s.FellBack)
        {
            telemetry.Fallbacks.Add(1, tags);
        }

        if (call.CacheStatus != CacheStatus.None)
        {
            telemetry.CacheHits.Add(1, tags);
        }
    }

    private int ElapsedMs(long startTimestamp) => (int)Math.Min(int.MaxValue, clock.GetElapsedTime(startTimestamp).TotalMilliseconds);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning,
        Message = "Call {CallId} of tenant {TenantId} cost {CostMicros} micro-USD, above its reservation of {ReservedMicros}: the provider reported more output than max_tokens")]
    private static partial void LogAboveReservation(ILogger log, Guid tenantId, Guid callId, long costMicros, long reservedMicros);
}
