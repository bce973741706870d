using Microsoft.Extensions.Hosting;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Tells the other instances that a tenant's settings changed, so their cached copies are dropped (issue 20, items 14
/// and 17; decision 27). One implementation per database mode, chosen when the gateway is registered:
/// <see cref="PostgresSettingsChangeFeed"/> (PostgreSQL <c>NOTIFY</c> / <c>LISTEN</c>) and
/// <see cref="SqliteSettingsChangeFeed"/> (one instance: nothing to tell).
/// </summary>
internal abstract class SettingsChangeFeed : BackgroundService
{
    /// <summary>Raised for a change made on another instance (<see cref="Guid.Empty"/>: any tenant may have changed).</summary>
    public event Action<Guid>? Received;

    /// <summary>Queues the news that <paramref name="tenantId"/>'s settings changed on this instance; never blocks, never throws.</summary>
    public abstract void Publish(Guid tenantId);

    protected void OnReceived(Guid tenantId) => Received?.Invoke(tenantId);
}

/// <summary>SQLite mode runs one instance: its own cache is the only one, and writers drop it themselves.</summary>
internal sealed class SqliteSettingsChangeFeed : SettingsChangeFeed
{
    public override void Publish(Guid tenantId)
    {
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.CompletedTask;
}
