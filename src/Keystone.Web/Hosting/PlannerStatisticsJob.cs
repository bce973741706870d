using Hangfire;
using Keystone.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Hosting;

/// <summary>
/// SQLite only: keeps the query planner's statistics fresh (<see cref="SqlitePlannerStatistics"/>, decision 0073), hourly
/// and once a minute after start, so a database never analyzed (a new install, or one from before this job) gets its
/// statistics without waiting for the hour. Re-entrant: a run on fresh statistics analyzes nothing. PostgreSQL mode
/// schedules nothing: autovacuum's autoanalyze keeps its statistics.
/// </summary>
internal sealed class PlannerStatisticsJob(KeystoneDbFactory dbFactory, TimeProvider clock, ILogger<PlannerStatisticsJob> log)
{
    public const string RecurringId = "database:planner-statistics";

    /// <summary>Hourly at :41, away from the top of the hour when rollups run and from retention's 03:17.</summary>
    public const string Cron = "41 * * * *";

    /// <summary>The run after start: after the demo seed and the first requests, not in the start-up's way.</summary>
    public static readonly TimeSpan AfterStart = TimeSpan.FromMinutes(1);

    /// <summary>The thread the refresh blocks on (at most 15 characters: Linux shows no more).</summary>
    public const string ThreadName = "ks-planner-stat";

    public async Task<PlannerStatisticsRefresh> RunAsync(CancellationToken ct)
    {
        // On a thread of its own (decision 59): Microsoft.Data.Sqlite's calls block, and one that meets the write lock
        // (the recorder's batches, the indexer's passes) sleeps 150 ms in its busy loop on the calling thread. Whichever
        // thread Hangfire runs this body on, the pool never holds that wait.
        var done = new TaskCompletionSource<PlannerStatisticsRefresh>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult(Refresh());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = ThreadName,
        };
        thread.Start();
        var result = await done.Task.WaitAsync(ct);

        log.LogInformation("Planner statistics: {Count} tables analyzed ({Tables}) in {ElapsedMs} ms", result.AnalyzedTables.Count,
            string.Join(", ", result.AnalyzedTables), (long)result.Duration.TotalMilliseconds);
        return result;
    }

    private PlannerStatisticsRefresh Refresh()
    {
        using var db = dbFactory.ForSystem();
        db.Database.OpenConnection();
        return SqlitePlannerStatistics.Refresh((SqliteConnection)db.Database.GetDbConnection(), clock);
    }
}

/// <summary>Schedules <see cref="PlannerStatisticsJob"/>'s run after start (the hourly one is a recurring job).</summary>
internal sealed class PlannerStatisticsAfterStart(IBackgroundJobClient jobs) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        jobs.Schedule<PlannerStatisticsJob>(j => j.RunAsync(CancellationToken.None), PlannerStatisticsJob.AfterStart);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

internal static class PlannerStatisticsSetup
{
    /// <summary>
    /// SQLite: the hourly refresh and the run after start. PostgreSQL: nothing (autovacuum's autoanalyze). Register after
    /// the database start-up: the run after start goes to Hangfire's storage.
    /// </summary>
    public static IServiceCollection AddKeystonePlannerStatistics(this IServiceCollection services, DatabaseOptions database)
        => database.Provider != DatabaseProvider.Sqlite
            ? services
            : services
                .AddRecurringJob<PlannerStatisticsJob>(PlannerStatisticsJob.RecurringId, PlannerStatisticsJob.Cron, j => j.RunAsync(CancellationToken.None))
                .AddHostedService<PlannerStatisticsAfterStart>();
}
