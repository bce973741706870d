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

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.CurrentValue.LastUsedFlushInterval, clock, stoppingToken);
                await FlushAsync(stoppingToken);
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
