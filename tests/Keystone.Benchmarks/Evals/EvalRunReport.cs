using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Gateway;
using Keystone.Testing;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Benchmarks.Evals;

/// <summary>
/// An N-example eval run (default 500) through the real app: SQLite, the demo seed, Hangfire's in-app server running
/// <see cref="EvalRunJob"/> at the default <c>Evals:RunConcurrency</c>, the gateway and the simulated provider at its default
/// speed (120 ms to the first token, 200 tokens/s). The run is started with Acme's admin key
/// (<c>POST /api/v1/evals/runs</c>, a feature set of messages with a regex scorer, so each example is one model call);
/// while it runs, a signed-in prompt editor requests the run page (<c>GET /evals/runs/{id}</c>, server-rendered)
/// back to back: its p50 / p95 / max is the console's responsiveness under the run.
/// </summary>
internal static class EvalRunReport
{
    public static async Task<string> RunAsync(int examples, TextWriter progress)
    {
        await using var app = new RootedAppFactory();
        _ = app.Server; // start the host: migrations, demo seed, Hangfire server
        var feature = "bench-evals";
        await using (var scope = app.Services.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(
                [new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.NameIdentifier, "bench"), new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.Role, Roles.PromptEditor)], "bench")));
            var sets = scope.ServiceProvider.GetRequiredService<EvalSetStore>();
            var set = await sets.CreateFeatureSetAsync(feature, DemoData.AcmeId, "benchmark", CancellationToken.None);
            var jsonl = string.Join('\n', Enumerable.Range(0, examples).Select(i =>
                $$"""{"messages": [{"role": "user", "content": "Customer {{i}} asks where order {{1000 + i}} is."}], "expectations": [{"kind": "regex", "value": "\\S"}]}"""));
            var imported = await sets.ImportJsonlAsync(set.Id, jsonl, "bench", CancellationToken.None);
            if (imported.Imported != examples)
            {
                throw new InvalidOperationException($"Import refused: {(imported.Errors.Count > 0 ? imported.Errors[0].Message : "no examples")}");
            }

            // Caps that never bind: the run pays for the real reservations without being refused by the demo's caps.
            await scope.ServiceProvider.GetRequiredService<IBudgetService>().SetAsync(DemoData.AcmeId,
            [
                new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, long.MaxValue / 8), new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Month, long.MaxValue / 8),
            ], null, null, CancellationToken.None);
        }

        using var api = app.CreateClient();
        api.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        var console = await app.SignInAsync("product@keystone.demo");

        var wall = Stopwatch.StartNew();
        using var started = await api.PostAsync("/api/v1/evals/runs", new StringContent($$"""{"feature": "{{feature}}", "alias": "fast"}""", Encoding.UTF8, "application/json"));
        started.EnsureSuccessStatusCode();
        var runId = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        progress.WriteLine($"run {runId} queued");

        var pageMs = new List<double>();
        var lastReport = Stopwatch.StartNew();
        EvalRun run;
        while (true)
        {
            var sw = Stopwatch.StartNew();
            using (var page = await console.GetAsync($"/evals/runs/{runId}"))
            {
                page.EnsureSuccessStatusCode();
                await page.Content.ReadAsByteArrayAsync();
            }

            pageMs.Add(sw.Elapsed.TotalMilliseconds);
            await using var db = app.CreateSystemDb();
            run = await db.EvalRuns.AsNoTracking().SingleAsync(r => r.Id == runId);
            if (run.Status is EvalRunStatus.Done or EvalRunStatus.Failed or EvalRunStatus.Cancelled)
            {
                break;
            }

            if (lastReport.Elapsed > TimeSpan.FromSeconds(10))
            {
                progress.WriteLine($"{run.Completed}/{run.Total} after {wall.Elapsed.TotalSeconds:0} s");
                lastReport.Restart();
            }

            if (wall.Elapsed > TimeSpan.FromMinutes(30))
            {
                throw new TimeoutException($"The run did not finish in 30 minutes ({run.Completed}/{run.Total}).");
            }
        }

        wall.Stop();
        var job = (run.FinishedUtc!.Value - run.StartedUtc!.Value).TotalSeconds;
        var sorted = pageMs.Order().ToArray();
        double P(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"SQLite, the demo seed, {examples:N0} examples (messages, one regex scorer: one model call each) on `fast` = the simulated provider at its default speed, `Evals:RunConcurrency` {app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EvalsOptions>>().Value.RunConcurrency}, {Environment.ProcessorCount} cores.");
        md.AppendLine();
        md.AppendLine("| Measure | Result |");
        md.AppendLine("|---|---|");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Run status | {run.Status} ({run.Completed:N0} of {run.Total:N0}, {run.Passed:N0} passed, {run.Errored:N0} errored){(run.FailureReason is { } f ? $": {f}" : "")} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Wall time, POST to done (as the page loop saw it) | {wall.Elapsed.TotalSeconds:0.0} s |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Job time, claimed to finished (run row) | {job:0.0} s |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Examples per second (job time) | {run.Completed / job:0.0} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| `GET /evals/runs/{{id}}` while the run goes: requests, p50 / p95 / max | {sorted.Length:N0}, {P(0.5):0} / {P(0.95):0} / {sorted[^1]:0} ms |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Cost of the run (simulated prices) | {run.CostMicros:N0} micro-USD |");
        return md.ToString();
    }

    /// <summary>The test factory, its content root resolved from the manifest (under <c>dotnet run</c> the working directory is the repository root).</summary>
    private sealed class RootedAppFactory : KeystoneAppFactory
    {
        protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            var manifest = Path.Combine(AppContext.BaseDirectory, "MvcTestingAppManifest.json");
            var roots = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(manifest))!;
            Microsoft.AspNetCore.Hosting.HostingAbstractionsWebHostBuilderExtensions.UseContentRoot(builder,
                roots.First(r => r.Key.StartsWith("Keystone.Web,", StringComparison.Ordinal)).Value);
        }
    }
}
