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
    ILogger<ApiKeyUsageTracker> log) : IHostedService, IAsyncDisposable
{
    private WriterThread? _writer;

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
    /// The flush runs on a thread of its own, never on the thread pool (issue 26, decision 0059; see
    /// <see cref="WriterThread"/>): on SQLite an update that meets the write lock sleeps in Microsoft.Data.Sqlite's busy
    /// loop on the calling thread. Last-used is informational: a failed write is retried with the next flush, never fatal.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _writer = new WriterThread(FlushThreadName, () => options.CurrentValue.LastUsedFlushInterval, FlushAsync,
            ex => log.LogWarning(ex, "Writing API key last-used times failed"));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_writer is not null)
        {
            await _writer.StopAsync();
        }

        try
        {
            await FlushAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            log.LogWarning(ex, "Writing API key last-used times at shutdown failed");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_writer is not null)
        {
            await _writer.DisposeAsync();
        }
    }
}
