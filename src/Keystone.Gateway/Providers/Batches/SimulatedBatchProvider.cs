using System.Collections.Concurrent;
using Keystone.Gateway.Providers.Simulated;
using Keystone.Gateway.Tokenization;

namespace Keystone.Gateway.Providers.Batches;

/// <summary>
/// The simulated provider's batch mode, in process: a batch is <c>validating</c> when submitted, <c>in_progress</c> after,
/// and <c>completed</c> once <see cref="SimulatedOptions.BatchSeconds"/> have passed (by the gateway's clock); its answers
/// are the live mode's for the same requests (the same markers, drift and faults; a faulted line is a failed line, as
/// in an error file), without the live mode's pacing. Cancel turns it <c>cancelled</c> with no answers. Batches live in
/// this process's memory: after a restart the provider no longer knows them (like an expired batch, the run then
/// releases its holds and fails the lines).
/// </summary>
internal sealed class SimulatedBatchProvider : IBatchModelProvider
{
    private readonly string _name;
    private readonly ProviderOptions _options;
    private readonly SimulatedProvider _answers;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, SimulatedBatch> _batches = new(StringComparer.Ordinal);

    public SimulatedBatchProvider(string name, ProviderOptions options, TokenCounter tokens, TimeProvider time)
    {
        _name = name;
        _options = options;
        _time = time;
        var knobs = options.Simulated;
        // The same answers as live, without waiting for them: the batch's own delay is BatchSeconds.
        var instant = new ProviderOptions
        {
            Kind = options.Kind,
            TimeoutSeconds = 1,
            Simulated = new SimulatedOptions
            {
                TimeToFirstTokenMs = 0, TokensPerSecond = 0, Fault = knobs.Fault == SimulatedFault.Timeout ? SimulatedFault.ServerError : knobs.Fault,
                FaultPercent = knobs.FaultPercent, CutAfterTokens = knobs.CutAfterTokens, Drift = knobs.Drift, PromptCacheMinTokens = knobs.PromptCacheMinTokens,
                OutageFromUtc = knobs.OutageFromUtc, OutageUntilUtc = knobs.OutageUntilUtc, OutageStatus = knobs.OutageStatus, BatchSeconds = knobs.BatchSeconds,
            },
        };
        _answers = new SimulatedProvider(name, instant, tokens, time);
    }

    private sealed class SimulatedBatch(string id, IReadOnlyList<ProviderBatchLine> lines, DateTimeOffset createdAt)
    {
        public string Id { get; } = id;

        public IReadOnlyList<ProviderBatchLine> Lines { get; } = lines;

        public DateTimeOffset CreatedAt { get; } = createdAt;

        public bool Cancelled { get; set; }

        public IReadOnlyList<ProviderBatchResult>? Results { get; set; }
    }

    public Task<ProviderBatchState> SubmitAsync(IReadOnlyList<ProviderBatchLine> lines, ProviderCredentials? credentials, CancellationToken ct)
    {
        if (lines.Select(l => l.CustomId).Distinct(StringComparer.Ordinal).Count() != lines.Count)
        {
            throw new ProviderException($"{_name} returned 400: custom_id values must be unique within a batch (simulated).", 400, isRetryable: false);
        }

        var batch = new SimulatedBatch("batch_sim_" + Guid.NewGuid().ToString("N"), lines, _time.GetUtcNow());
        _batches[batch.Id] = batch;
        return Task.FromResult(new ProviderBatchState(batch.Id, "validating", lines.Count, 0, 0, null, null));
    }

    public async Task<ProviderBatchState> GetAsync(string batchId, ProviderCredentials? credentials, CancellationToken ct)
    {
        var batch = Find(batchId);
        if (batch.Cancelled)
        {
            return State(batch, "cancelled");
        }

        if (_time.GetUtcNow() - batch.CreatedAt < TimeSpan.FromSeconds(_options.Simulated.BatchSeconds))
        {
            return new ProviderBatchState(batch.Id, "in_progress", batch.Lines.Count, 0, 0, null, null);
        }

        await AnswerAsync(batch, ct);
        return State(batch, "completed");
    }

    public Task<ProviderBatchState> CancelAsync(string batchId, ProviderCredentials? credentials, CancellationToken ct)
    {
        var batch = Find(batchId);
        if (batch.Results is null)
        {
            batch.Cancelled = true;
        }

        return Task.FromResult(batch.Cancelled ? State(batch, "cancelled") : State(batch, "completed"));
    }

    public Task<IReadOnlyList<ProviderBatchResult>> ResultsAsync(ProviderBatchState batch, ProviderCredentials? credentials, CancellationToken ct)
        => Task.FromResult(Find(batch.Id).Results ?? (IReadOnlyList<ProviderBatchResult>)[]);

    private SimulatedBatch Find(string batchId) => _batches.TryGetValue(batchId, out var batch)
        ? batch
        : throw new ProviderException($"{_name} returned 404: no batch '{batchId}' (the simulated provider keeps batches in memory, until a restart).", 404, isRetryable: false);

    private async Task AnswerAsync(SimulatedBatch batch, CancellationToken ct)
    {
        if (batch.Results is not null)
        {
            return;
        }

        var results = new List<ProviderBatchResult>(batch.Lines.Count);
        foreach (var line in batch.Lines)
        {
            try
            {
                results.Add(new ProviderBatchResult(line.CustomId, await _answers.CompleteAsync(line.Request, ct), null));
            }
            catch (ProviderException ex)
            {
                results.Add(new ProviderBatchResult(line.CustomId, null, ex.Message));
            }
        }

        batch.Results = results;
    }

    private static ProviderBatchState State(SimulatedBatch batch, string status)
    {
        var results = batch.Results ?? [];
        var failed = results.Count(r => r.Response is null);
        return new ProviderBatchState(batch.Id, status, batch.Lines.Count, results.Count - failed, failed,
            results.Count > failed ? "file_sim_out_" + batch.Id : null, failed > 0 ? "file_sim_err_" + batch.Id : null);
    }
}
