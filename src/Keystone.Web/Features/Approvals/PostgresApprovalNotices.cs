using System.Globalization;
using System.Threading.Channels;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keystone.Web.Features.Approvals;

/// <summary>
/// Approval notices between instances in PostgreSQL mode: a change here is sent as
/// <c>NOTIFY keystone_approvals, '&lt;instance&gt;:&lt;tenant&gt;'</c> (a requester's source, such as an agent run that
/// wrote events: <c>'&lt;instance&gt;:&lt;tenant&gt;:&lt;source&gt;'</c>) and every instance holds one unpooled connection
/// that <c>LISTEN</c>s on that channel, so an inbox or a run open on another instance updates within milliseconds. NOTIFY
/// is not stored: after the listening connection drops, every page is told "anything may have changed" on reconnecting.
/// Only with <c>Approvals:ListenAcrossInstances</c> on (decision 35): the connection it holds is one more per instance
/// than the connection budget (decision 29) counts. Off (the default), changes reach this instance's pages at once and
/// other instances' pages on their periodic refresh, and nothing is sent or held.
/// </summary>
internal sealed partial class PostgresApprovalNotices(KeystoneDbFactory dbFactory, TimeProvider clock,
    Microsoft.Extensions.Options.IOptions<ApprovalsOptions> options, ILogger<ApprovalNotices> log)
    : ApprovalNotices(log)
{
    private readonly bool _listen = options.Value.ListenAcrossInstances;

    /// <summary>The notification channel (one per database).</summary>
    public const string Channel = "keystone_approvals";

    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly Channel<(Guid Tenant, Guid? Source)> _outbox =
        System.Threading.Channels.Channel.CreateUnbounded<(Guid Tenant, Guid? Source)>(new UnboundedChannelOptions { SingleReader = true });

    /// <inheritdoc />
    public override bool ReachesEveryInstance => _listen;

    protected override void Send(Guid tenantId, Guid? sourceId)
    {
        if (_listen)
        {
            _outbox.Writer.TryWrite((tenantId, sourceId));
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => _listen ? Task.WhenAll(ListenAsync(stoppingToken), SendAsync(stoppingToken)) : Task.CompletedTask;

    private async Task ListenAsync(CancellationToken ct)
    {
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                // Its own connection outside the pools, held for the life of the process (as the settings feed's).
                await using var conn = dbFactory.CreateListenerConnection();
                await conn.OpenAsync(ct);
                conn.Notification += (_, e) => Receive(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", conn))
                {
                    await listen.ExecuteNonQueryAsync(ct);
                }

                // Whatever changed while nobody listened.
                Raise(Guid.Empty);
                RaiseSource(Guid.Empty, Guid.Empty);
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
                // Pages still update on this instance's own changes and on their periodic refresh.
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
        var batch = new HashSet<(Guid Tenant, Guid? Source)>();
        try
        {
            while (await _outbox.Reader.WaitToReadAsync(ct))
            {
                while (_outbox.Reader.TryRead(out var notice))
                {
                    batch.Add(notice);
                }

                for (var attempt = 1; batch.Count > 0; attempt++)
                {
                    try
                    {
                        await using var db = dbFactory.ForSystem();
                        foreach (var notice in batch.ToList())
                        {
                            var payload = _instance + ":" + notice.Tenant.ToString("D", CultureInfo.InvariantCulture)
                                + (notice.Source is { } source ? ":" + source.ToString("D", CultureInfo.InvariantCulture) : "");
                            await db.Database.ExecuteSqlAsync($"SELECT pg_notify({Channel}, {payload})", ct);
                            batch.Remove(notice);
                        }
                    }
                    catch (Exception ex) when (!ct.IsCancellationRequested)
                    {
                        // Three tries, then other instances' pages see the change on their periodic refresh.
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
        var parts = payload.Split(':');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || parts[0] == _instance || !Guid.TryParse(parts[1], out var tenantId))
        {
            return; // This instance's own notice (raised when it was published), or not ours.
        }

        if (parts.Length == 2)
        {
            Raise(tenantId);
        }
        else if (Guid.TryParse(parts[2], out var sourceId))
        {
            RaiseSource(tenantId, sourceId);
        }
    }

    [LoggerMessage(EventId = 2501, Level = LogLevel.Warning, Message = "Listening for other instances' approval notices failed; open inboxes here see their changes on their periodic refresh until it works again")]
    private partial void ListenFailed(Exception ex);

    [LoggerMessage(EventId = 2502, Level = LogLevel.Warning, Message = "Telling the other instances about an approvals change failed; their open inboxes see it on their periodic refresh")]
    private partial void SendFailed(Exception ex);
}
