using System.Collections.Concurrent;
using Keystone.Data;
using Keystone.Web.Platform.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Keys;

/// <summary>
/// Keeps each key's last-used time in memory and writes them in the background, one update per key per
/// flush, so the request path never waits on the database for it.
/// </summary>
internal sealed class ApiKeyUsageTracker(
    KeystoneDbFactory dbFactory,
    TimeProvider clock,
    IOptionsMonitor<ApiKeysOptions> options,
    ILogger<ApiKeyUsageTracker> log) : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, (Guid TenantId, DateTime UsedUtc)> _pending = new();

    /// <summary>Notes that a key was used now (cheap; coalesced until the next flush).</summary>
    public void MarkUsed(ApiKeyIdentity key)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        _pending[key.KeyId] = (key.TenantId, now);
    }

    /// <summary>Writes every pending last-used time now.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        foreach (var keyId in _pending.Keys.ToList())
        {
            if (!_pending.TryRemove(keyId, out var entry))
            {
                continue;
            }

            await using var db = dbFactory.ForTenant(entry.TenantId);
            await db.ApiKeys.Where(k => k.Id == keyId && (k.LastUsedUtc == null || k.LastUsedUtc < entry.UsedUtc))
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedUtc, entry.UsedUtc), ct);
        }
    }

    /// <summary>The name of the thread that writes the last-used times (at most 15 characters: Linux shows no more).</summary>
    internal const string FlushThreadName = "ks-key-usage";

    /// <summary>
    /// The flush loop runs on a thread of its own, never on the thread pool (issue 26, decision 0059): on SQLite every
    /// "async" database call runs synchronously, and an update that meets the write lock (the call recorder's batches,
    /// the trace indexer's passes) sleeps 150 ms in Microsoft.Data.Sqlite's busy loop on the calling thread, which on a
    /// pool thread stalls every request in flight. Blocking on the flush is what this thread is for.
    /// </summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                FlushLoop(stoppingToken);
            }
            finally
            {
                done.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = FlushThreadName,
        }.Start();
        return done.Task;
    }

    private void FlushLoop(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                Task.Delay(options.CurrentValue.LastUsedFlushInterval, clock, stoppingToken).GetAwaiter().GetResult();
                FlushAsync(stoppingToken).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Last-used is informational: a failed write is retried with the next use, never fatal.
                log.LogWarning(ex, "Writing API key last-used times failed");
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await FlushAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            log.LogWarning(ex, "Writing API key last-used times at shutdown failed");
        }
    }
}
