using System.Text.Json;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Evals;

/// <summary>One feature's sampling rate in <c>/api/v1/evals/sampling</c>: percent of the tenant's recorded calls queued for review.</summary>
internal sealed record EvalSamplingRateDto(string Feature, double RatePercent, DateTime UpdatedUtc);

/// <summary>The body of <c>PUT /api/v1/evals/sampling</c>.</summary>
internal sealed record EvalSamplingRateRequestDoc(string Feature, double RatePercent);

/// <summary>
/// <c>/api/v1/evals/sampling</c> through an <c>admin</c> key: the key's tenant's per-feature sampling rates (which share of
/// its recorded calls the sampler queues for review). Setting one is audited like the console's.
/// </summary>
internal static class EvalSamplingEndpoints
{
    public static async Task<IResult> ListAsync(HttpContext http, EvalCandidateReview review)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var rates = await review.RatesAsync(key.TenantId, http.RequestAborted);
        return TypedResults.Ok(new { data = rates.Select(r => new EvalSamplingRateDto(r.Feature, r.RatePercent, r.UpdatedUtc)) });
    }

    public static async Task<IResult> PutAsync(HttpContext http, ApiRequestBody body, EvalCandidateReview review)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var (feature, percent) = await body.ReadAsync(http.Request, Parse, http.RequestAborted);
        try
        {
            var row = await review.SetRateAsync(key.TenantId, feature, percent, http.RequestAborted);
            return TypedResults.Ok(new EvalSamplingRateDto(row.Feature, row.RatePercent, row.UpdatedUtc));
        }
        catch (EvalException ex) when (ex.Code == EvalException.Conflict)
        {
            // The API's one code for a lost race between writers (docs/api.md), as every other write endpoint answers.
            throw ApiException.Conflict(ex.Message);
        }
        catch (EvalException ex)
        {
            throw new ApiException(400, ex.Code, ex.Message);
        }
    }

    internal static (string Feature, double Percent) Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        var feature = JsonFields.RequiredString(root, "feature", FeatureLabel.MaxLength);
        if (!FeatureLabel.IsValid(feature))
        {
            throw ApiException.Invalid("feature", $"feature must be a feature label: {FeatureLabel.Rule}.");
        }

        var percent = JsonFields.OptionalNumber(root, "ratePercent", 0, 100)
            ?? throw ApiException.Invalid("ratePercent", "ratePercent is required: a percentage from 0 to 100 (0 stops sampling the feature).");
        return (feature, percent);
    }
}
