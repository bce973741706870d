using System.Globalization;
using System.Text.Json;
using Keystone.Data.Evals;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Evals;

// /api/v1/evals/runs shapes: camelCase, money in micro-USD, score in points (0-100), times in UTC.

/// <summary>The answer of <c>POST /api/v1/evals/runs</c> (202): the queued run and where to follow it.</summary>
internal sealed record EvalRunAcceptedDto(Guid Id, string Status, int Total, string Url);

/// <summary><c>GET /api/v1/evals/runs/{id}</c>: status, progress and totals so far.</summary>
internal sealed record EvalRunDto(
    Guid Id, Guid SetId, string Set, string? Prompt, int? Version, string Alias, string Status, string Trigger,
    int Total, int Completed, int Passed, int Errored, double Progress, double? Score, double? PassRate,
    long CostMicros, long? CostPerExampleMicros, long InputTokens, long OutputTokens, int Attempt, string? FailureReason,
    DateTime CreatedUtc, DateTime? StartedUtc, DateTime? FinishedUtc, string Mode = "live", EvalRunBatchDto? Batch = null);

/// <summary>A batch run's provider batch: its id, the provider's status and counts, and what is held for it on the caps (micro-USD).</summary>
internal sealed record EvalRunBatchDto(string Id, string Model, string Status, int Total, int Completed, int Failed, long HeldMicros, string? Error,
    DateTime SubmittedUtc, DateTime PolledUtc);

/// <summary>The body of <c>POST /api/v1/evals/runs</c> (for the API description): a set id, or a prompt name; optional version and alias.</summary>
internal sealed record EvalRunRequestDoc(Guid? SetId, string? Prompt, string? Feature, int? Version, string? Alias, string? Mode);

/// <summary>
/// <c>/api/v1/evals/runs</c> through an <c>admin</c> key: start a run of the key's tenant's eval set (its prompt override's
/// set) and read its progress. API keys belong to a tenant, so a key reaches only its tenant's sets and runs; a global
/// prompt's set (platform data, attributed to the platform) is run from the console or the <c>eval</c> command. Another
/// tenant's set or run answers 404 like every foreign id.
/// </summary>
internal static class EvalRunEndpoints
{
    public static async Task<IResult> StartAsync(HttpContext http, ApiRequestBody body, EvalRunner runner, EvalSetStore sets)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        var (setId, prompt, feature, version, alias, mode) = await body.ReadAsync(http.Request, Parse, ct);
        EvalSetRow? set;
        if (setId is { } id)
        {
            set = await sets.GetSetAsync(id, ct);
        }
        else if (feature is not null)
        {
            set = (await sets.ListSetsAsync(null, ct)).FirstOrDefault(s => s.TenantId == key.TenantId && s.Feature == feature);
        }
        else
        {
            set = (await sets.ListSetsAsync(prompt!.Trim().ToLowerInvariant(), ct)).FirstOrDefault(s => s.TenantId == key.TenantId);
        }

        if (set is null || set.TenantId != key.TenantId)
        {
            throw ApiException.NotFound(setId is not null
                ? $"No eval set {setId} in this tenant."
                : feature is not null
                    ? $"This tenant has no eval set for the feature '{feature}'."
                    : $"This tenant has no eval set for the prompt '{prompt}' (a tenant's set belongs to its prompt override).");
        }

        if (set.Feature is not null && alias is null && set.NightlyAlias is null)
        {
            throw ApiException.Invalid("alias", "A feature's set runs on the alias (or provider/model) you name (it has no nightly alias to default to): give \"alias\".");
        }

        try
        {
            var run = await runner.StartAsync(new EvalRunRequest(set.Id, version, alias, EvalRunTrigger.Api, mode), ct);
            var url = $"/api/v1/evals/runs/{run.Id}";
            return TypedResults.Accepted(url, new EvalRunAcceptedDto(run.Id, StatusText(run.Status), run.Total, url));
        }
        catch (EvalException ex)
        {
            throw ToApi(ex);
        }
    }

    public static async Task<IResult> GetAsync(HttpContext http, string id, EvalRunStore runs)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        if (!Guid.TryParse(id, out var runId))
        {
            throw ApiException.Invalid("id", "id must be an eval run id (a GUID).");
        }

        var run = await runs.GetAsync(runId, http.RequestAborted);
        if (run is null || run.TenantId != key.TenantId)
        {
            throw ApiException.NotFound($"No eval run {runId} in this tenant.");
        }

        return TypedResults.Ok(ToDto(run));
    }

    internal static EvalRunDto ToDto(EvalRunView r) => new(r.Id, r.SetId, r.SetName, r.PromptName, r.Version, r.Alias, StatusText(r.Status),
        r.Trigger.ToString().ToLowerInvariant(), r.Total, r.Completed, r.Passed, r.Errored, Math.Round(r.Progress, 4), r.ScorePoints,
        r.PassRate is { } p ? Math.Round(p, 4) : null, r.CostMicros, r.CostPerExampleMicros, r.InputTokens, r.OutputTokens, r.Attempt, r.FailureReason,
        r.CreatedUtc, r.StartedUtc, r.FinishedUtc, r.Mode == EvalRunMode.Batch ? "batch" : "live",
        r.Batch is { } b ? new EvalRunBatchDto(b.BatchId, b.Model, b.Status, b.Total, b.Completed, b.Failed, b.HeldMicros, b.Error, b.SubmittedUtc, b.PolledUtc) : null);

    private static string StatusText(EvalRunStatus status) => status.ToString().ToLowerInvariant();

    private static ApiException ToApi(EvalException ex) => ex.Code switch
    {
        EvalException.NotFound => ApiException.NotFound(ex.Message),
        EvalException.Forbidden => new ApiException(403, ex.Code, ex.Message),
        EvalException.Conflict => new ApiException(409, ex.Code, ex.Message),
        EvalException.BudgetExceeded => new ApiException(429, ex.Code, ex.Message),
        EvalException.Upstream => new ApiException(502, ex.Code, ex.Message),
        _ => new ApiException(400, ex.Code, ex.Message),
    };

    internal static (Guid? SetId, string? Prompt, string? Feature, int? Version, string? Alias, EvalRunMode Mode) Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        var setText = JsonFields.OptionalString(root, "setId", 64);
        var prompt = JsonFields.OptionalString(root, "prompt", 128);
        var feature = JsonFields.OptionalString(root, "feature", 128);
        var named = (setText is null ? 0 : 1) + (prompt is null ? 0 : 1) + (feature is null ? 0 : 1);
        if (named != 1)
        {
            // None named: setId is what is missing; two named: the second one is the one too many.
            throw ApiException.Invalid(named == 0 ? "setId" : feature is not null ? "feature" : "prompt",
                "Name exactly one of setId (an eval set's id), prompt (a prompt's name) or feature (a feature label).");
        }

        if (feature is not null && !Keystone.Gateway.FeatureLabel.IsValid(feature))
        {
            throw ApiException.Invalid("feature", $"feature must be a feature label: {Keystone.Gateway.FeatureLabel.Rule}.");
        }

        Guid? setId = null;
        if (setText is not null)
        {
            setId = Guid.TryParse(setText, CultureInfo.InvariantCulture, out var g) ? g : throw ApiException.Invalid("setId", "setId must be an eval set id (a GUID).");
        }

        if (prompt is not null && string.IsNullOrWhiteSpace(prompt))
        {
            throw ApiException.Invalid("prompt", "prompt must not be empty.");
        }

        var version = JsonFields.OptionalInt(root, "version", 1, 1_000_000);
        var alias = JsonFields.OptionalString(root, "alias", 128);
        if (alias is not null && string.IsNullOrWhiteSpace(alias))
        {
            throw ApiException.Invalid("alias", "alias must not be empty.");
        }

        if (feature is not null && version is not null)
        {
            throw ApiException.Invalid("version", "A feature's set has no prompt versions: leave version out.");
        }

        var modeText = JsonFields.OptionalString(root, "mode", 16);
        var mode = modeText switch
        {
            null or "live" => EvalRunMode.Live,
            "batch" => EvalRunMode.Batch,
            _ => throw ApiException.Invalid("mode", "mode must be \"live\" (default: one call per example) or \"batch\" (one provider batch: about half the price, results within 24 h)."),
        };

        return (setId, prompt, feature, version, alias, mode);
    }
}
