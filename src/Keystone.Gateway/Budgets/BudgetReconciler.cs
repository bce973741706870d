using Keystone.Gateway.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Budgets;

/// <summary>
/// Keeps the budget counters true to the calls (<see cref="BudgetLedger.ReconcileAsync"/>): once at start, before the
/// host serves (a crash leaves reservations of calls that will never settle, and settled spend whose call rows were
/// lost or never counted), then every <see cref="GatewayOptions.BudgetReconcileInterval"/> for reservations older than
/// the longest possible call. A hosted timer rather than a Hangfire job: the gateway has no Hangfire, and in SQLite mode
/// only this process can see its in-memory reservations. Every instance runs it; a pass only changes what it proves
/// stale, under the counter's row lock.
/// </summary>
internal sealed partial class BudgetReconciler(BudgetLedger ledger, IOptionsMonitor<GatewayOptions> options, TimeProvider clock,
    ILogger<BudgetReconciler> log) : BackgroundService
{
    // Until the start pass succeeds (the database may come up after this process), every pass is one.
    private bool _startPassDone;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await RunAsync(atStart: true, cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(options.CurrentValue.BudgetReconcileInterval, clock, stoppingToken);
                await RunAsync(atStart: !_startPassDone, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>One pass; a failure (the database away) is logged and the next pass tries again.</summary>
    internal async Task RunAsync(bool atStart, CancellationToken ct)
    {
        try
        {
            var corrected = await ledger.ReconcileAsync(atStart, ct);
            _startPassDone = true;
            if (corrected > 0)
            {
                LogCorrected(log, corrected, atStart);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            LogFailed(log, ex);
        }
    }

    [LoggerMessage(EventId = 3110, Level = LogLevel.Warning, Message = "Budget reconciliation corrected {Count} counters (at start: {AtStart})")]
    private static partial void LogCorrected(ILogger log, int count, bool atStart);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Error, Message = "Budget reconciliation failed; the next pass retries")]
    private static partial void LogFailed(ILogger log, Exception ex);
}
