using Microsoft.Extensions.Hosting;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Shares this instance's rate-limit counts with the other instances (decision 20). One implementation per database
/// mode, chosen when the gateway is registered: <see cref="PostgresRateLimitSync"/> exchanges counts through
/// <c>rate_limit_counts</c>; <see cref="SqliteRateLimitSync"/> does nothing, as SQLite mode runs one instance.
/// </summary>
internal abstract class RateLimitSync : BackgroundService
{
    /// <summary>This process's id in <c>rate_limit_counts</c>.</summary>
    public Guid InstanceId { get; } = Guid.NewGuid();

    /// <summary>One exchange: write this instance's changed counts, read the others'.</summary>
    public abstract Task SyncAsync(CancellationToken ct);
}
