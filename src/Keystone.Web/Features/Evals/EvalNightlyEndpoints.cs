using System.Text.Json;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// <c>PUT /api/v1/evals/nightly</c>'s answer: the feature's set, the alias this request set (null: not nightly), and whether
/// it changed anything (false: it was that alias already, and its drift baseline stays).
/// </summary>
internal sealed record EvalNightlyDto(Guid SetId, string Feature, string? NightlyAlias, bool Changed);

/// <summary>The body of <c>PUT /api/v1/evals/nightly</c> (for the API description).</summary>
internal sealed record EvalNightlyRequestDoc(string Feature, string? Alias);

/// <summary>
/// <c>/api/v1/evals/nightly</c> through an <c>admin</c> key: choose the alias the key's tenant's set of a feature is run on
/// every night (docs/decisions/0050), as a prompt editor does on the set's page; validated against the tenant's aliases
/// and audited the same way.
/// </summary>
internal static class EvalNightlyEndpoints
{
    public static async Task<IResult> PutAsync(HttpContext http, ApiRequestBody body, EvalSetEditor editor)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        var (feature, alias) = await body.ReadAsync(http.Request, Parse, ct);
        var set = (await editor.ListSetsAsync(null, ct)).FirstOrDefault(s => s.TenantId == key.TenantId && s.Feature == feature)
            ?? throw ApiException.NotFound($"This tenant has no eval set for the feature '{feature}'.");
        try
        {
            // What this request set, not a re-read: a concurrent writer's alias is theirs to report.
            var changed = await editor.SetNightlyAliasAsync(set, alias, ct);
            return TypedResults.Ok(new EvalNightlyDto(set.Id, feature, alias?.Trim(), changed));
        }
        catch (EvalException ex)
        {
            throw ex.Code == EvalException.NotFound ? ApiException.NotFound(ex.Message) : new ApiException(400, ex.Code, ex.Message);
        }
    }

    internal static (string Feature, string? Alias) Parse(JsonElement root)
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

        // null (or absent) stops the nightly runs; an empty string is a mistake, not a way to say so.
        var alias = JsonFields.OptionalString(root, "alias", 128);
        if (alias is not null && string.IsNullOrWhiteSpace(alias))
        {
            throw ApiException.Invalid("alias", "alias must not be empty: give the alias to run on every night, or null to stop.");
        }

        return (feature, alias);
    }
}
