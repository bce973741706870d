using System.Globalization;
using System.Threading.Channels;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Settings changes between instances in PostgreSQL mode: a change made here is sent as
/// <c>NOTIFY keystone_settings, '&lt;instance&gt;:&lt;tenant&gt;'</c> and every instance holds one connection (taken from
/// its own, outside the pools, for the life of the process) that <c>LISTEN</c>s on that channel, so another instance drops its cached copy within milliseconds instead of after
/// <see cref="GatewayOptions.SettingsCacheTtl"/> (a key's new rate limit, a cap's new limit). Nothing is stored:
/// when the listening connection drops, every cached tenant is dropped on reconnecting, as changes may have been
/// missed meanwhile, and until then the cache TTL bounds how stale a copy can be.
/// </summary>
internal sealed partial class PostgresSettingsChangeFeed(
    KeystoneDbFactory dbFactory,
    TimeProvider clock,
    ILogger<SettingsChangeFeed> log) : SettingsChangeFeed
{
    /// <summary>The notification channel (one per database).</summary>
    public const string Channel = "keystone_settings";

    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly Channel<Guid> _outbox = System.Threading.Channels.Channel.CreateUnbounded<Guid>(new UnboundedChannelOptions { SingleReader = true });

    public override void Publish(Guid tenantId) => _outbox.Writer.TryWrite(tenantId);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => Task.WhenAll(ListenAsync(stoppingToken), SendAsync(stoppingToken));

    private async Task ListenAsync(CancellationToken ct)
    {
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                // A connection of its own, held open for the life of the process, outside the application pool (so a
                // small Database:MaxPoolSize keeps all of its connections for requests).
                await using var conn = dbFactory.CreateListenerConnection();
                await conn.OpenAsync(ct);
                conn.Notification += (_, e) => Receive(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", conn))
                {
                    await listen.ExecuteNonQueryAsync(ct);
                }

                // Whatever changed while nobody listened (at start there is nothing cached yet, so this costs nothing).
                OnReceived(Guid.Empty);
                failures = 0;
                while (true)
                {
                    await conn.WaitAsync(ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                // The host keeps serving: other instances' changes reach this one after the cache TTL until this reconnects.
                if (failures++ % 60 == 0)
                {
                    ListenFailed(ex);
                }

                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), clock, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task SendAsync(CancellationToken ct)
    {
        var batch = new HashSet<Guid>();
        try
        {
            while (await _outbox.Reader.WaitToReadAsync(ct))
            {
                while (_outbox.Reader.TryRead(out var tenantId))
                {
                    batch.Add(tenantId);
                }

                for (var attempt = 1; batch.Count > 0; attempt++)
                {
                    try
                    {
                        await using var db = dbFactory.ForSystem();
                        foreach (var tenantId in batch.ToList())
                        {
                            var payload = _instance + ":" + tenantId.ToString("D", CultureInfo.InvariantCulture);
                            await db.Database.ExecuteSqlAsync($"SELECT pg_notify({Channel}, {payload})", ct);
                            batch.Remove(tenantId);
                        }
                    }
                    catch (Exception ex) when (!ct.IsCancellationRequested)
                    {
                        // Three tries, then the others see the change after their cache TTL.
                        if (attempt >= 3)
                        {
                            SendFailed(ex);
                            batch.Clear();
                        }
                        else
                        {
                            await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), clock, ct);
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private void Receive(string payload)
    {
        var colon = payload.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || payload.AsSpan(0, colon).SequenceEqual(_instance) || !Guid.TryParse(payload.AsSpan(colon + 1), out var tenantId))
        {
            return; // This instance's own news (its cache was dropped when it wrote), or not ours.
        }

        OnReceived(tenantId);
    }

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Listening for other instances' settings changes failed; their changes apply here after the settings cache TTL until it works again")]
    private partial void ListenFailed(Exception ex);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Telling the other instances about a settings change failed; they apply it after the settings cache TTL")]
    private partial void SendFailed(Exception ex);
}
