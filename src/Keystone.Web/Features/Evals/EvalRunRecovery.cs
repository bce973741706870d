using Keystone.Data.Evals;

namespace Keystone.Web.Features.Evals;

/// <summary>What a start does with the runs the previous process left unfinished; one implementation per database mode.</summary>
internal interface IEvalRunRecovery
{
    /// <summary>Resumes (or leaves to their live worker) the unfinished runs; returns how many were queued again.</summary>
    Task<int> RecoverAsync(CancellationToken ct);
}

/// <summary>
/// Embedded mode: this is the only instance and Hangfire's queue was in memory, so every unfinished run lost its
/// worker with the old process. Each is resumed: a running one goes back to the queue, and every queued one gets a new
/// job. Its written results stay; the worker answers only the examples without one.
/// </summary>
internal sealed class SqliteEvalRunRecovery(EvalRunStore store, IEvalRunQueue queue, EvalBatchRunner batch, ILogger<SqliteEvalRunRecovery> log) : IEvalRunRecovery
{
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        // The budget holds of submitted batches lived in the stopped process's memory: held again before anything is
        // served, so no call can spend what the provider is already spending (decision 0049).
        await batch.RestoreAllAsync(ct);
        var count = 0;
        foreach (var (id, status) in await store.UnfinishedAsync(ct))
        {
            if (status == EvalRunStatus.Running)
            {
                await store.ReleaseAsync(id, ct);
            }

            queue.Enqueue(id);
            count++;
            log.LogInformation("Eval run {RunId} left {Status} by the previous start is resumed", id, status);
        }

        return count;
    }
}

/// <summary>
/// Scaled mode: a running run may be held by a live instance, and Hangfire's PostgreSQL queue survives restarts. A
/// start gives every queued run a job (a duplicate job finds it taken and does nothing) and leaves running runs to their
/// worker; a worker that died with its instance stops writing results, and the watchdog fails that run with the reason
/// after <c>Evals:StallMinutes</c> (then Retry runs the examples left).
/// </summary>
internal sealed class PostgresEvalRunRecovery(EvalRunStore store, IEvalRunQueue queue) : IEvalRunRecovery
{
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        var queued = (await store.UnfinishedAsync(ct)).Where(r => r.Status == EvalRunStatus.Queued).ToList();
        foreach (var (id, _) in queued)
        {
            queue.Enqueue(id);
        }

        return queued.Count;
    }
}

/// <summary>Runs the recovery once at start (after the database start-up migrated).</summary>
internal sealed class EvalRunRecoveryStartup(IServiceProvider services) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IEvalRunRecovery>().RecoverAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
