using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Keystone.Gateway.Pricing;

/// <summary>
/// Seeds the price file and loads the <see cref="PriceBook"/> at start-up, then checks every few minutes whether
/// rows changed (another instance seeded a newer file) and reloads. Registered after the database start-up, so
/// migrations have run; if the table is not there yet it logs and the book loads on first use.
/// </summary>
internal sealed class PriceTableStartup(PriceSeeder seeder, PriceBook book, TimeProvider time, ILogger<PriceTableStartup> log)
    : IHostedService, IAsyncDisposable
{
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(5);
    private readonly CancellationTokenSource _stopping = new();
    private Task? _refreshLoop;
    private int _disposed;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await seeder.SeedAsync(cancellationToken);
            await book.ReloadAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            log.LogWarning(ex, "The price table could not be seeded at start-up; it will be loaded on first use");
        }

        _refreshLoop = RefreshLoopAsync(_stopping.Token);
    }

    private async Task RefreshLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(RefreshInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    if (!book.IsLoaded)
                    {
                        await seeder.SeedAsync(ct);
                    }

                    await book.RefreshIfChangedAsync(ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    log.LogWarning(ex, "Refreshing the price table failed; the prices in memory stay in use");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return; // A host torn down without a graceful stop already ended the loop.
        }

        await _stopping.CancelAsync();
        if (_refreshLoop is not null)
        {
            await _refreshLoop.WaitAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        if (_refreshLoop is not null)
        {
            await _refreshLoop;
        }

        _stopping.Dispose();
    }
}
