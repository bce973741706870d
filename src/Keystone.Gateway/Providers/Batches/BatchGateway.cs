using System.Collections.Concurrent;
using Keystone.Data.Calls;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Credentials;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Pricing;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Routing;
using Keystone.Gateway.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Providers.Batches;

/// <summary>
/// Batch mode through the gateway's own parts (docs/decisions/0049-eval-batch-mode.md): the tenant's settings and alias
/// resolution, the ledger (every line's worst case at the batch price held at once, all or nothing), the provider's batch
/// interface with the tenant's own key or the platform's (as the live path resolves it), the batch price
/// (<see cref="PriceBook.Calculate(PriceRow, Usage, bool)"/> with <c>batch: true</c>) and the recorder. A batch goes to the
/// first target of the alias: a provider's batch is one file at one provider, so there is no fallback.
/// </summary>
internal sealed partial class BatchGateway(
    TenantSettings settings,
    AliasResolver resolver,
    BatchProviders providers,
    BudgetLedger ledger,
    CallPricing prices,
    IPromptTokenCounter tokens,
    ProviderCredentialStore credentials,
    CallRecorder recorder,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock,
    ILogger<BatchGateway> log) : IBatchGateway
{
    /// <summary>This process's handles of the holds it made or restored, by call id (settled once, then dropped).</summary>
    private readonly ConcurrentDictionary<Guid, BudgetReservation> _holds = new();

    public async Task<BatchEstimate> EstimateAsync(CallContext context, string model, IReadOnlyList<ChatRequest> requests, CancellationToken ct)
    {
        var snapshot = await settings.GetAsync(context.TenantId, ct);
        var target = resolver.Resolve(model, snapshot).Targets[0];
        var price = await PriceAsync(context.TenantId, target, clock.GetUtcNow().UtcDateTime, ct);
        long live = 0, batch = 0;
        foreach (var r in requests)
        {
            var usage = new Usage(tokens.CountPrompt(r), r.MaxTokens ?? options.CurrentValue.DefaultMaxTokens);
            live += PriceBook.Calculate(price.Row, usage).CostMicros;
            batch += PriceBook.Calculate(price.Row, usage, batch: true).CostMicros;
        }

        var refusal = providers.Find(target.Provider) is null ? NotSupportedText(target) : null;
        return new BatchEstimate(live, refusal is null ? batch : null, refusal);
    }

    public async Task<BatchTicket> SubmitAsync(CallContext context, string model, IReadOnlyList<BatchRequestLine> lines, CancellationToken ct)
    {
        if (lines.Count == 0)
        {
            throw Invalid("A batch needs at least one request.");
        }

        if (lines.Select(l => l.CustomId).Distinct(StringComparer.Ordinal).Count() != lines.Count)
        {
            throw Invalid("Every request of a batch needs its own custom id.");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var snapshot = await settings.GetAsync(context.TenantId, ct);
        var target = resolver.Resolve(model, snapshot).Targets[0];
        var provider = providers.Find(target.Provider)
            ?? throw new GatewayException(new GatewayError(BatchErrorCodes.NotSupported, NotSupportedText(target), 400, Param: "mode"));
        var price = await PriceAsync(context.TenantId, target, now, ct);

        var planned = new List<(BatchRequestLine Line, Guid CallId, int MaxTokens, long Worst)>(lines.Count);
        foreach (var line in lines)
        {
            var maxTokens = line.Request.MaxTokens ?? options.CurrentValue.DefaultMaxTokens;
            // The same bound as a live call's reservation (the counted prompt plus every allowed output token), at the batch price.
            var worst = PriceBook.Calculate(price.Row, new Usage(tokens.CountPrompt(line.Request), maxTokens), batch: true).CostMicros;
            planned.Add((line, CallIds.NewVersion7(now), maxTokens, worst));
        }

        IReadOnlyList<CapRow> caps = context.BilledToOverride == BilledTo.Support ? [] : BudgetLedger.Applicable(snapshot, context);
        IReadOnlyList<BudgetReservation> holds;
        try
        {
            var (held, rejection) = await ledger.ReserveHoldsAsync(context.TenantId, caps, planned.Select(p => (p.CallId, p.Worst)).ToList(), ct);
            if (held is null)
            {
                throw await RefusedAsync(context.TenantId, rejection!, planned.Sum(p => p.Worst), lines.Count, now, ct);
            }

            holds = held;
        }
        catch (Exception ex) when (ex is not GatewayException and not OperationCanceledException)
        {
            LogHoldFailed(log, ex, context.TenantId);
            throw new GatewayException(new GatewayError(GatewayErrorCodes.BudgetUnavailable,
                "The budget caps could not be checked (the database did not answer), so the batch was not submitted. Retry in a moment.", 503,
                TimeSpan.FromSeconds(5)));
        }

        try
        {
            var creds = await credentials.GetForCallAsync(context.TenantId, target.Provider, ct);
            var state = await provider.SubmitAsync(
                planned.Select(p => new ProviderBatchLine(p.Line.CustomId, new ProviderChatRequest(target.Model, p.Line.Request, p.MaxTokens, creds))).ToList(),
                creds, ct);
            foreach (var h in holds)
            {
                _holds[h.CallId] = h;
            }

            LogSubmitted(log, context.TenantId, state.Id, target.ToString(), lines.Count, holds.Sum(h => h.AmountMicros));
            return new BatchTicket
            {
                TenantId = context.TenantId, Provider = target.Provider, Model = target.Model, Alias = model, BatchId = state.Id, SubmittedUtc = now,
                BilledTo = creds is null ? context.BilledToOverride ?? BilledTo.Platform : BilledTo.TenantKey,
                Lines = planned.Select(p => new BatchTicketLine(p.Line.CustomId, p.CallId, context.TraceId ?? CallIds.NewVersion7(now), p.Worst)).ToList(),
                Caps = holds.Count == 0 ? [] : holds[0].Caps.Select(c => new BatchTicketCap(c.Cap.BudgetId, c.Cap.Scope, c.Cap.Key, c.Cap.Period, c.Cap.LimitMicros, c.PeriodStartUtc)).ToList(),
            };
        }
        catch (Exception ex)
        {
            // Nothing reached the provider (or it refused the batch): nothing is spent, every hold goes back.
            foreach (var h in holds)
            {
                await ledger.SettleAsync(h, 0, [], CancellationToken.None);
            }

            if (ex is ProviderException pe)
            {
                throw new GatewayException(new GatewayError(pe.IsRetryable ? GatewayErrorCodes.UpstreamUnavailable : GatewayErrorCodes.UpstreamError,
                    $"{target} did not take the batch: {pe.Message}", pe.IsRetryable ? 503 : 502));
            }

            throw;
        }
    }

    public async Task<BatchProgress> PollAsync(BatchTicket ticket, CancellationToken ct)
    {
        try
        {
            return Progress(await ProviderOf(ticket).GetAsync(ticket.BatchId, await CredentialsAsync(ticket, ct), ct));
        }
        catch (ProviderException ex) when (ex.StatusCode == 404)
        {
            return Lost(ticket, ex);
        }
    }

    public async Task<BatchProgress> CancelAsync(BatchTicket ticket, CancellationToken ct)
    {
        try
        {
            return Progress(await ProviderOf(ticket).CancelAsync(ticket.BatchId, await CredentialsAsync(ticket, ct), ct));
        }
        catch (ProviderException ex) when (ex.StatusCode == 404)
        {
            return Lost(ticket, ex);
        }
    }

    public async Task RestoreHoldsAsync(BatchTicket ticket, IReadOnlyCollection<string> pendingCustomIds, CancellationToken ct)
        => await HandlesAsync(ticket, ticket.Lines.Where(l => pendingCustomIds.Contains(l.CustomId)).ToList(), ct);

    public async Task<IReadOnlyList<BatchLineOutcome>> FinishAsync(BatchTicket ticket, BatchProgress progress, CallContext context,
        IReadOnlyDictionary<string, ChatRequest> requests, IReadOnlyCollection<string> pendingCustomIds, CancellationToken ct)
    {
        var pending = ticket.Lines.Where(l => pendingCustomIds.Contains(l.CustomId)).ToList();
        var results = new Dictionary<string, ProviderBatchResult>(StringComparer.Ordinal);
        if (progress.Error is null || progress.Status != LostStatus)
        {
            var provider = ProviderOf(ticket);
            var creds = await CredentialsAsync(ticket, ct);
            var state = await provider.GetAsync(ticket.BatchId, creds, ct);
            foreach (var r in await provider.ResultsAsync(state, creds, ct))
            {
                results[r.CustomId] = r;
            }
        }

        var handles = await HandlesAsync(ticket, pending, ct);
        var snapshot = await settings.GetAsync(ticket.TenantId, ct);
        var target = new ModelTarget(ticket.Provider, ticket.Model);
        var price = await PriceAsync(ticket.TenantId, target, ticket.SubmittedUtc, ct);
        var now = clock.GetUtcNow().UtcDateTime;
        var latency = (int)Math.Clamp((now - ticket.SubmittedUtc).TotalMilliseconds, 0, int.MaxValue);
        var outcomes = new List<BatchLineOutcome>(pending.Count);
        foreach (var line in pending)
        {
            var request = requests.GetValueOrDefault(line.CustomId);
            var hold = handles[line.CallId];
            if (results.GetValueOrDefault(line.CustomId) is { Response: { } response })
            {
                var cost = PriceBook.Calculate(price.Row, response.Usage, batch: true).CostMicros;
                if (cost > hold.AmountMicros && hold.Caps.Count > 0)
                {
                    // Spent is spent: settled as reported, so the caps count it and refuse what no longer fits.
                    LogAboveHold(log, ticket.TenantId, line.CallId, cost, hold.AmountMicros);
                }

                var settled = await ledger.SettleAsync(hold, cost, snapshot.SoftThresholdsPercent, CancellationToken.None);
                var answer = new CachedAnswer(response.Text, response.ToolCalls, response.FinishReason, response.Usage);
                var outcome = await RecordAsync(ticket, line, context, request, answer, CallStatus.Ok, settled ? null : GatewayErrorCodes.SettlementFailed,
                    cost, price.Status, latency, "ok", null);
                outcomes.Add(new BatchLineOutcome(line.CustomId, new ChatResult(response.Text, response.ToolCalls, response.FinishReason, response.Usage, outcome), null,
                    line.TraceId));
            }
            else
            {
                var error = results.GetValueOrDefault(line.CustomId)?.Error ?? MissingText(progress);
                var code = progress.Status == "expired" ? BatchErrorCodes.Expired
                    : progress.Status == "cancelled" ? GatewayErrorCodes.Cancelled
                    : BatchErrorCodes.LineFailed;
                await ledger.SettleAsync(hold, 0, [], CancellationToken.None);
                await RecordAsync(ticket, line, context, request, null, code == GatewayErrorCodes.Cancelled ? CallStatus.Cancelled : CallStatus.Error, code,
                    0, CostStatus.Exact, latency, "error", error);
                outcomes.Add(new BatchLineOutcome(line.CustomId, null, $"{code}: {error}", line.TraceId));
            }

            _holds.TryRemove(line.CallId, out _);
        }

        return outcomes;
    }

    private const string LostStatus = "lost";

    private static BatchProgress Lost(BatchTicket ticket, ProviderException ex)
        => new(LostStatus, ticket.Lines.Count, 0, 0, IsTerminal: true, $"The provider no longer knows batch {ticket.BatchId}: {ex.Message}");

    private static string MissingText(BatchProgress progress) => progress.Status switch
    {
        "expired" => "the batch expired (24 h) before the provider answered this request.",
        "cancelled" => "the batch was cancelled before the provider answered this request.",
        LostStatus => progress.Error ?? "the provider no longer knows the batch.",
        "failed" => "the provider failed the whole batch" + (progress.Error is { } e ? $" ({e})." : "."),
        _ => "the provider returned no result for this request.",
    };

    private async Task<Dictionary<Guid, BudgetReservation>> HandlesAsync(BatchTicket ticket, IReadOnlyList<BatchTicketLine> lines, CancellationToken ct)
    {
        var handles = new Dictionary<Guid, BudgetReservation>();
        var missing = new List<BatchTicketLine>();
        foreach (var l in lines)
        {
            if (_holds.TryGetValue(l.CallId, out var h))
            {
                handles[l.CallId] = h;
            }
            else
            {
                missing.Add(l);
            }
        }

        if (missing.Count > 0)
        {
            var caps = ticket.Caps.Select(c => new ReservedCap(new CapRow(c.BudgetId, c.Scope, c.Key, c.Period, c.LimitMicros), c.PeriodStartUtc)).ToList();
            var restored = await ledger.RestoreHoldsAsync(ticket.TenantId, caps, missing.Select(l => (l.CallId, l.ReservedMicros)).ToList(), ticket.SubmittedUtc, ct);
            foreach (var r in restored)
            {
                handles[r.CallId] = _holds.GetOrAdd(r.CallId, r);
            }
        }

        return handles;
    }

    private async Task<CallOutcome> RecordAsync(BatchTicket ticket, BatchTicketLine line, CallContext context, ChatRequest? request, CachedAnswer? answer,
        CallStatus status, string? errorCode, long cost, CostStatus costStatus, int latencyMs, string attemptOutcome, string? attemptError)
    {
        var usage = answer?.Usage ?? Usage.Zero;
        var call = new LlmCall
        {
            Id = line.CallId,
            TraceId = line.TraceId,
            TenantId = ticket.TenantId,
            UserId = context.UserId,
            EndUser = context.EndUser,
            ApiKeyId = context.ApiKeyId,
            Feature = string.IsNullOrWhiteSpace(context.Feature) ? "default" : context.Feature,
            // The batch marker: dashboards, margin and traces see an ordinary call; its request id names the provider batch.
            RequestId = Clip(BatchErrorCodes.RequestIdPrefix + ticket.BatchId, 64),
            PromptName = context.PromptName,
            PromptVersionId = context.PromptVersionId,
            Alias = ticket.Alias,
            Provider = ticket.Provider,
            Model = ticket.Model,
            Streamed = false,
            InputTokens = usage.InputTokens,
            OutputTokens = usage.OutputTokens,
            CachedInputTokens = usage.CachedInputTokens,
            CacheWriteTokens = usage.CacheWriteTokens,
            CacheWrite1hTokens = usage.CacheWrite1hTokens,
            ReasoningTokens = usage.ReasoningTokens,
            CostMicros = cost,
            CostStatus = costStatus,
            BilledTo = ticket.BilledTo,
            CacheStatus = CacheStatus.None,
            Attempts = 1,
            Status = status,
            ErrorCode = errorCode,
            LatencyMs = latencyMs,
            // The period the hold counted in: the reconciler rebuilds that counter from the calls recorded in it.
            CreatedUtc = ticket.SubmittedUtc,
        };
        Attempt[] attempts = [new(ticket.Provider, ticket.Model, attemptOutcome, attemptOutcome == "ok" ? 200 : null,
            Clip($"batch {ticket.BatchId}" + (attemptError is null ? "" : ": " + attemptError), 2000), latencyMs)];
        if (!options.CurrentValue.RecordingDisabledForBenchmarks)
        {
            await recorder.EnqueueAsync(new CallRecord(call, request, answer, attempts));
        }

        return new CallOutcome
        {
            CallId = call.Id, TraceId = call.TraceId, Provider = call.Provider, Model = call.Model, CostMicros = cost, CostStatus = costStatus,
            BilledTo = call.BilledTo, Attempts = attempts, Status = status, LatencyMs = latencyMs,
        };
    }

    /// <summary>The target's price at <paramref name="atUtc"/>, else the fallback price for unpriced models (no batch discount), as live calls are costed.</summary>
    private async Task<(PriceRow Row, CostStatus Status)> PriceAsync(Guid tenantId, ModelTarget target, DateTime atUtc, CancellationToken ct)
    {
        if (await prices.FindAsync(tenantId, target, atUtc, ct) is { } price)
        {
            return (price.Row, CostStatus.Exact);
        }

        if (options.CurrentValue.UnpricedModels.Action != UnpricedModelAction.Refuse && await prices.FallbackAsync(embedding: false, ct) is { } fallback)
        {
            return (fallback.Row, CostStatus.Fallback);
        }

        throw CallPricing.NotPriced(target, "a batch's spend cannot be held on the caps without a price.");
    }

    private IBatchModelProvider ProviderOf(BatchTicket ticket) => providers.Find(ticket.Provider)
        ?? throw new GatewayException(new GatewayError(BatchErrorCodes.NotSupported, $"The provider '{ticket.Provider}' has no batch interface any more.", 400));

    private Task<ProviderCredentials?> CredentialsAsync(BatchTicket ticket, CancellationToken ct) => ticket.BilledTo == BilledTo.TenantKey
        ? credentials.GetForCallAsync(ticket.TenantId, ticket.Provider, ct)
        : Task.FromResult<ProviderCredentials?>(null);

    private static BatchProgress Progress(ProviderBatchState s) => new(s.Status, s.Total, s.Completed, s.Failed, s.IsTerminal, s.Error);

    private async Task<GatewayException> RefusedAsync(Guid tenantId, BudgetRejection r, long worstMicros, int lines, DateTime now, CancellationToken ct)
    {
        var refusal = new BudgetCapRefusal(r.Cap.Scope, r.Cap.Key.Length == 0 ? null : r.Cap.Key, r.Cap.Period, r.Cap.LimitMicros, r.SpentMicros,
            r.ReservedMicros, worstMicros, r.ResetsAtUtc, null);
        var reason = $"the batch's worst case ({BudgetText.Money(worstMicros)} for {lines} requests: each prompt plus max tokens at the batch price) is more than the "
            + $"{BudgetText.Money(refusal.LeftMicros)} left of {BudgetText.CapName(r.Cap.Scope, refusal.Key, r.Cap.Period)} ({BudgetText.Money(r.Cap.LimitMicros)}; "
            + $"{BudgetText.Money(r.SpentMicros)} spent" + (r.ReservedMicros > 0 ? $", {BudgetText.Money(r.ReservedMicros)} held by calls and batches in flight" : "") + ")";
        var periodStart = r.Cap.Period == BudgetPeriod.Day ? r.ResetsAtUtc.AddDays(-1) : r.ResetsAtUtc.AddMonths(-1);
        await ledger.RecordRefusalAsync(tenantId, r.Cap.BudgetId, periodStart, reason, now, ct);
        return new GatewayException(new GatewayError(GatewayErrorCodes.BudgetExceeded,
            $"Budget exceeded: {reason}. Nothing was submitted. Run fewer examples, or ask a tenant admin to raise the cap; the cap resets at "
            + r.ResetsAtUtc.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture) + " UTC.", 429, r.ResetsAtUtc - now) { Cap = refusal });
    }

    private static string NotSupportedText(ModelTarget target)
        => $"{target} has no batch interface here (batch mode needs an OpenAI-kind provider or the simulated one): run it live.";

    private static GatewayException Invalid(string message) => new(new GatewayError(GatewayErrorCodes.InvalidRequest, message, 400));

    private static string Clip(string text, int max) => text.Length > max ? text[..max] : text;

    [LoggerMessage(EventId = 3300, Level = LogLevel.Information, Message = "Batch {BatchId} of tenant {TenantId} submitted to {Target}: {Lines} requests, {HeldMicros} micro-USD held")]
    private static partial void LogSubmitted(ILogger log, Guid tenantId, string batchId, string target, int lines, long heldMicros);

    [LoggerMessage(EventId = 3301, Level = LogLevel.Warning, Message = "Batch line {CallId} of tenant {TenantId} cost {CostMicros} micro-USD, above its hold of {HeldMicros}: the provider reported more than max_tokens")]
    private static partial void LogAboveHold(ILogger log, Guid tenantId, Guid callId, long costMicros, long heldMicros);

    [LoggerMessage(EventId = 3302, Level = LogLevel.Error, Message = "Holding a batch on the budget caps of tenant {TenantId} failed")]
    private static partial void LogHoldFailed(ILogger log, Exception ex, Guid tenantId);
}

/// <summary>
/// The batch interface of each configured provider that has one: OpenAI-kind providers (the Batch API) and the simulated
/// provider (the same flow in process). Anthropic has Message Batches, a different API not built here; Local runs in
/// process and has nothing to batch. One adapter per provider for the process's life (the simulated one holds its batches).
/// </summary>
internal sealed class BatchProviders(ProviderRegistry registry, IHttpClientFactory httpClients, TokenCounter tokens, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, IBatchModelProvider?> _adapters = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The batch adapter of provider <paramref name="name"/>; null when it has none.</summary>
    public IBatchModelProvider? Find(string name) => _adapters.GetOrAdd(name, n => registry.Find(n) switch
    {
        { Kind: ProviderKind.OpenAI } p => new OpenAiBatchProvider(p.Name, p.Options, httpClients, time),
        { Kind: ProviderKind.Simulated } p => (IBatchModelProvider)new SimulatedBatchProvider(p.Name, p.Options, tokens, time),
        _ => null,
    });
}
