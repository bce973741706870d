namespace Keystone.Gateway.Pipeline;

/// <summary>SQLite mode runs one instance: its own counts are all there is, so there is nothing to share.</summary>
internal sealed class SqliteRateLimitSync : RateLimitSync
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.CompletedTask;

    public override Task SyncAsync(CancellationToken ct) => Task.CompletedTask;
}
