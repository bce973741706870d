using System.Globalization;
using Keystone.Data.Evals;
using Keystone.Web.Components.Shared;
using Keystone.Web.Hosting;

namespace Keystone.Web.Features.Evals;

/// <summary>The <c>eval</c> command's arguments: the prompt, an optional version, alias and pass mark (points 0-100).</summary>
internal sealed record EvalCommandArgs(string Prompt, int? Version, string? Alias, double? MinScore);

/// <summary>
/// <c>dotnet run --project src/Keystone.Web -- eval PROMPT [--version N] [--alias A] [--min-score S]</c>: runs the prompt's
/// global eval set in this process (through the gateway, like every run: feature <c>eval</c>, attributed to
/// <c>Evals:PlatformTenant</c>, budget-reserved), prints one line per example and the totals, and exits 0 when the run
/// is done with a score at or above S, 1 when it is below or the run failed, 2 for a usage error. A team gates a pull
/// request on it. The database start-up (migrate in the embedded mode, seed) and the gateway's background services run;
/// the web server and the job server do not (so a running instance's port and queue are left alone).
/// </summary>
internal static class EvalCommand
{
    public const string Usage = "usage: eval <prompt> [--version N] [--alias A] [--min-score S]   (S in points, 0-100)";

    /// <summary>Reads the command's arguments; null with the reason when they are not usable.</summary>
    public static (EvalCommandArgs? Args, string? Error) Parse(string[] args)
    {
        if (args.Length < 2 || args[0] != CommandLine.EvalCommand || args[1].StartsWith("--", StringComparison.Ordinal))
        {
            return (null, "eval needs the prompt's name.");
        }

        int? version = null;
        string? alias = null;
        double? minScore = null;
        for (var i = 2; i < args.Length; i++)
        {
            string? Value() => i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : null;
            switch (args[i])
            {
                case "--version":
                    if (!int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < 1)
                    {
                        return (null, "--version needs a version number (1 or more).");
                    }

                    version = v;
                    break;
                case "--alias":
                    alias = Value();
                    if (string.IsNullOrWhiteSpace(alias) || alias.Length > 128)
                    {
                        return (null, "--alias needs a model alias (such as fast or smart).");
                    }

                    break;
                case "--min-score":
                    if (!double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || s < 0 || s > 100 || double.IsNaN(s))
                    {
                        return (null, "--min-score needs a score in points from 0 to 100.");
                    }

                    minScore = s;
                    break;
                default:
                    // Configuration switches (--Section:Key=value, --Section:Key value) belong to the configuration.
                    if (!args[i].Contains(':', StringComparison.Ordinal) && args[i] != "--urls" && args[i] != "--environment")
                    {
                        return (null, $"unknown option {args[i]}.");
                    }

                    break;
            }
        }

        return (new EvalCommandArgs(args[1], version, alias, minScore), null);
    }

    /// <summary>Runs the command when the arguments name it; true when they did (the caller then exits).</summary>
    public static async Task<bool> RunEvalCommandAsync(this WebApplication app, string[] args)
    {
        if (args.Length == 0 || args[0] != CommandLine.EvalCommand)
        {
            return false;
        }

        var (parsed, error) = Parse(args);
        if (parsed is null)
        {
            await Console.Error.WriteLineAsync($"{error}\n{Usage}");
            Environment.ExitCode = 2;
            return true;
        }

        Environment.ExitCode = await RunAsync(app.Services, parsed, Console.Out, Console.Error, CancellationToken.None);
        return true;
    }

    /// <summary>The command's work, with its output streams (tests read them); returns the exit code.</summary>
    public static async Task<int> RunAsync(IServiceProvider services, EvalCommandArgs args, TextWriter output, TextWriter errors, CancellationToken ct)
    {
        // Everything the run needs, without Kestrel (GenericWebHostService) and Hangfire's server: the run goes in this process.
        var hosted = services.GetServices<IHostedService>()
            .Where(h => h.GetType().Namespace is { } ns && !ns.StartsWith("Hangfire", StringComparison.Ordinal) && !ns.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal))
            .Where(h => h is not RecurringJobs and not EvalRunRecoveryStartup)
            .ToList();
        var started = new List<IHostedService>();
        try
        {
            foreach (var h in hosted)
            {
                await h.StartAsync(ct);
                started.Add(h);
            }

            await using var scope = services.CreateAsyncScope();
            var sets = scope.ServiceProvider.GetRequiredService<EvalSetStore>();
            var runs = scope.ServiceProvider.GetRequiredService<EvalRunStore>();
            var name = args.Prompt.Trim().ToLowerInvariant();
            var set = (await sets.ListSetsAsync(name, ct)).FirstOrDefault(s => s.TenantId is null);
            if (set is null)
            {
                await errors.WriteLineAsync($"The prompt \"{args.Prompt}\" has no global eval set (create one on /evals or in prompts/{name}/eval.jsonl).");
                return 2;
            }

            EvalRunView run;
            try
            {
                run = await runs.CreateAsync(new EvalRunRequest(set.Id, args.Version, args.Alias, EvalRunTrigger.Manual),
                    new EvalRunStarter("command-line", "eval command"), ct);
            }
            catch (EvalException ex)
            {
                await errors.WriteLineAsync(ex.Message);
                return 2;
            }

            await output.WriteLineAsync($"Running {run.Total} example(s) of {set.Name} on version {run.Version?.ToString(CultureInfo.InvariantCulture) ?? "-"}, alias {run.Alias} (run {run.Id})");
            await scope.ServiceProvider.GetRequiredService<EvalRunJob>().RunAsync(run.Id, ct);
            run = (await runs.GetAsync(run.Id, ct))!;
            var results = await runs.ResultsAsync(run.Id, ct);
            await output.WriteLineAsync(Table(run, results));
            if (run.Status != EvalRunStatus.Done)
            {
                await errors.WriteLineAsync($"The run ended {run.Status.ToString().ToLowerInvariant()}: {run.FailureReason}");
                return 1;
            }

            if (args.MinScore is { } min && (run.ScorePoints ?? 0) < min)
            {
                await errors.WriteLineAsync($"FAIL: score {run.ScorePoints?.ToString("0.0", CultureInfo.InvariantCulture)} is below --min-score {min.ToString("0.#", CultureInfo.InvariantCulture)}.");
                return 1;
            }

            await output.WriteLineAsync(args.MinScore is { } m ? $"PASS: score at or above {m.ToString("0.#", CultureInfo.InvariantCulture)}." : "Done.");
            return 0;
        }
        catch (System.Data.Common.DbException ex)
        {
            await errors.WriteLineAsync($"The database could not be used (is it migrated and reachable?): {ex.Message}");
            return 2;
        }
        finally
        {
            // Stopping drains the gateway's recorder: every call of the run is written before the process exits.
            for (var i = started.Count - 1; i >= 0; i--)
            {
                await started[i].StopAsync(CancellationToken.None);
            }
        }
    }

    /// <summary>One line per example (verdict, score, cost, latency, first reason) and the totals.</summary>
    public static string Table(EvalRunView run, IReadOnlyList<EvalResultView> results)
    {
        var c = CultureInfo.InvariantCulture;
        var lines = new List<string> { string.Format(c, "{0,4}  {1,-6} {2,6} {3,12} {4,9}  {5}", "#", "result", "score", "cost", "latency", "why") };
        for (var i = 0; i < results.Count; i++)
        {
            var r = results[i];
            var verdict = r.Error is not null ? "ERROR" : r.Passed ? "pass" : "FAIL";
            var why = (r.Error ?? r.Reasons).ReplaceLineEndings(" ");
            lines.Add(string.Format(c, "{0,4}  {1,-6} {2,6:0.0} {3,12} {4,7}ms  {5}", i + 1, verdict, r.Score * 100, Money.Format(r.CostMicros), r.LatencyMs,
                why.Length > 100 ? why[..100] + "…" : why));
        }

        lines.Add(string.Format(c, "score {0} · pass rate {1} · {2}/{3} passed · {4} errored · cost {5} ({6} per example)",
            run.ScorePoints?.ToString("0.0", c) ?? "-", run.PassRate?.ToString("P0", c) ?? "-", run.Passed, run.Total, run.Errored,
            Money.Format(run.CostMicros), Money.Format(run.CostPerExampleMicros ?? 0)));
        return string.Join(Environment.NewLine, lines);
    }
}
