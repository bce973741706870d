using System.Text.Json;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Caching;

/// <summary>One feature of <c>/api/v1/cache-settings</c>: its settings, where they come from, and the last 30 days.</summary>
internal sealed record CacheSettingsDto(
    string Feature,
    bool CacheEveryRequest,
    bool CacheAtTemperatureZero,
    bool SemanticCache,
    double SemanticThreshold,
    string Source,
    DateTime? UpdatedUtc,
    long Calls30d,
    long CacheHits30d,
    long SavedCostMicros30d);

/// <summary><c>GET /api/v1/cache-settings</c>.</summary>
internal sealed record CacheSettingsListDto(IReadOnlyList<CacheSettingsDto> Features);

/// <summary>The body of <c>PUT /api/v1/cache-settings/{feature}</c> (documentation only; fields left out keep their current value).</summary>
internal sealed record CacheSettingsInputDoc(bool? CacheEveryRequest, bool? CacheAtTemperatureZero, bool? SemanticCache, double? SemanticThreshold);

/// <summary>
/// <c>/api/v1/cache-settings</c>: the caching page's settings through an <c>admin</c> key. The console's
/// <see cref="CachingService"/> does the work, so validation and the audit trail (the acting key is the actor) are
/// the same as on <c>/caching</c>.
/// </summary>
internal static class CacheSettingsEndpoints
{
    public static async Task<IResult> ListAsync(HttpContext http, CachingService caching)
    {
        var rows = await caching.ListAsync(http.RequestAborted);
        return TypedResults.Ok(new CacheSettingsListDto(rows.Select(ToDto).ToList()));
    }

    public static async Task<IResult> PutAsync(HttpContext http, string feature, ApiRequestBody body, CachingService caching)
    {
        var input = await body.ReadAsync(http.Request, Parse, http.RequestAborted);
        var current = (await caching.ListAsync(http.RequestAborted))
            .FirstOrDefault(r => r.Settings.Feature.Equals(feature, StringComparison.OrdinalIgnoreCase));
        var before = current?.Settings ?? await Run(() => caching.EffectiveAsync(feature, http.RequestAborted));
        var changed = before with
        {
            CacheEveryRequest = input.CacheEveryRequest ?? before.CacheEveryRequest,
            CacheAtTemperatureZero = input.CacheAtTemperatureZero ?? before.CacheAtTemperatureZero,
            SemanticCache = input.SemanticCache ?? before.SemanticCache,
            SemanticThreshold = input.SemanticThreshold ?? before.SemanticThreshold,
        };
        var saved = await Run(() => caching.SaveAsync(changed, current?.Settings, http.RequestAborted));
        return TypedResults.Ok(ToDto(new CachingRow(saved, current?.Calls ?? 0, current?.CacheHits ?? 0, current?.SavedMicros ?? 0)));
    }

    public static async Task<IResult> DeleteAsync(HttpContext http, string feature, CachingService caching)
        => await caching.ResetAsync(feature, http.RequestAborted)
            ? TypedResults.NoContent()
            : throw ApiException.NotFound($"This tenant has no cache settings of its own for '{feature}' (the platform's apply).");

    internal static CacheSettingsInputDoc Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        return new CacheSettingsInputDoc(
            JsonFields.OptionalBool(root, "cacheEveryRequest"),
            JsonFields.OptionalBool(root, "cacheAtTemperatureZero"),
            JsonFields.OptionalBool(root, "semanticCache"),
            JsonFields.OptionalNumber(root, "semanticThreshold", 0.5, 1));
    }

    // The service speaks for the console; its refusals become the API's 400 naming the field.
    private static async Task<T> Run<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (CacheSettingsValidationException ex)
        {
            throw ApiException.Invalid(ex.Field, ex.Message);
        }
    }

    private static CacheSettingsDto ToDto(CachingRow r) => new(
        r.Settings.Feature, r.Settings.CacheEveryRequest, r.Settings.CacheAtTemperatureZero, r.Settings.SemanticCache,
        r.Settings.SemanticThreshold, r.Settings.IsTenantSetting ? "tenant" : "platform", r.Settings.UpdatedUtc,
        r.Calls, r.CacheHits, r.SavedMicros);
}
