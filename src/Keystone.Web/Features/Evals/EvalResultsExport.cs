using System.Globalization;
using System.Text;
using System.Text.Json;
using Keystone.Web.Hosting;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// <c>GET /evals/runs/{id}/results.csv</c> and <c>.jsonl</c>: a run's results for a spreadsheet or a script, for whoever may
/// open the run page (prompt readers every run, a tenant admin their own tenant's runs; any other run answers 404, as
/// the page does). Money in micro-USD, scores 0..1, one row per example in the set's order.
/// </summary>
internal static class EvalResultsExport
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IEndpointRouteBuilder MapEvalResultsExport(this IEndpointRouteBuilder app)
    {
        app.MapGet("/evals/runs/{id:guid}/results.csv", (Guid id, EvalRunner runner, CancellationToken ct) => ExportAsync(id, runner, csv: true, ct))
            .RequireAuthorization(Policies.EvalRunReader);
        app.MapGet("/evals/runs/{id:guid}/results.jsonl", (Guid id, EvalRunner runner, CancellationToken ct) => ExportAsync(id, runner, csv: false, ct))
            .RequireAuthorization(Policies.EvalRunReader);
        return app;
    }

    private static async Task<IResult> ExportAsync(Guid id, EvalRunner runner, bool csv, CancellationToken ct)
    {
        if (await runner.Store.GetAsync(id, ct) is not { } run || !runner.CanView(run))
        {
            return Results.NotFound();
        }

        var results = await runner.Store.ResultsAsync(id, ct);
        var text = new StringBuilder();
        if (csv)
        {
            text.Append("run_id,example_id,attempt,passed,score,error,reasons,answer,input_tokens,output_tokens,cost_micros,latency_ms,trace_id,judge_prompt_version\n");
            foreach (var r in results)
            {
                text.Append(CultureInfo.InvariantCulture, $"{run.Id},{r.ExampleId},{r.Attempt},{(r.Passed ? "yes" : "no")},{r.Score.ToString("0.###", CultureInfo.InvariantCulture)},")
                    .Append(CultureInfo.InvariantCulture, $"{Field(r.Error ?? "")},{Field(r.Reasons)},{Field(r.Answer)},{r.InputTokens},{r.OutputTokens},{r.CostMicros},{r.LatencyMs},")
                    .Append(CultureInfo.InvariantCulture, $"{r.TraceId},{r.JudgePromptVersion}\n");
            }
        }
        else
        {
            foreach (var r in results)
            {
                text.Append(JsonSerializer.Serialize(new
                {
                    runId = run.Id, r.ExampleId, r.Attempt, r.Passed, r.Score, r.Error, r.Reasons, r.Answer, r.InputTokens, r.OutputTokens, r.CostMicros,
                    r.LatencyMs, r.TraceId, judgePromptVersion = r.JudgePromptVersion,
                }, Json)).Append('\n');
            }
        }

        return Results.File(Encoding.UTF8.GetBytes(text.ToString()), csv ? "text/csv" : "application/x-ndjson", $"eval-run-{run.Id:N}.{(csv ? "csv" : "jsonl")}");
    }

    // Quotes fields that need it, and defuses spreadsheet formulas in model answers (=, +, -, @): an answer is untrusted text.
    internal static string Field(string value)
    {
        if (value.Length > 0 && "=+-@\t\r".Contains(value[0], StringComparison.Ordinal))
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
