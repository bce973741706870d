using System.Globalization;
using System.Text.Json;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Keystone.Web.Features.Keys;

/// <summary>
/// <c>/api/v1/keys</c>: a tenant's key lifecycle through an <c>admin</c> key (list, create, change expiry and
/// models, rotate, revoke), for
/// platforms that issue keys from their own provisioning code. The console's <see cref="ApiKeyService"/> does the
/// work, so validation, the audit trail (the acting key is the actor) and lookup-cache eviction are the same as on
/// <c>/keys</c>; this only maps HTTP onto it.
/// </summary>
internal static class KeyManagementEndpoints
{
    public static async Task<IResult> ListAsync(HttpContext http, ApiKeyService keys)
    {
        var rows = await keys.ListAsync(http.RequestAborted);
        return TypedResults.Ok(new ApiKeyListDto(rows.Select(ToDto).ToList()));
    }

    public static async Task<IResult> CreateAsync(HttpContext http, ApiRequestBody body, ApiKeyService keys)
    {
        var input = await body.ReadAsync(http.Request, ParseNewKey, http.RequestAborted);
        var created = await Run(() => keys.CreateAsync(input, http.RequestAborted));
        return TypedResults.Created($"/api/v1/keys/{created.Key.Id}", new CreatedApiKeyDto(ToDto(created.Key), created.Secret));
    }

    public static async Task<IResult> RotateAsync(HttpContext http, Guid id, ApiRequestBody body, ApiKeyService keys)
    {
        // The body is optional (`curl -X POST` sends none): no body means the default overlap.
        var overlap = http.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false
            ? DefaultRotationOverlap
            : await body.ReadAsync(http.Request, ParseRotation, http.RequestAborted);
        var rotated = await Run(() => keys.RotateAsync(id, overlap, http.RequestAborted));
        return TypedResults.Ok(new CreatedApiKeyDto(ToDto(rotated.Key), rotated.Secret));
    }

    public static async Task<IResult> UpdateAsync(HttpContext http, Guid id, ApiRequestBody body, ApiKeyService keys)
    {
        var change = await body.ReadAsync(http.Request, ParseUpdate, http.RequestAborted);
        // Both are checked before either is saved, so a refused field changes nothing.
        if (change.SetExpiry)
        {
            await Run(() => { keys.ValidateExpiry(change.ExpiresUtc); return Task.CompletedTask; });
        }

        if (change.SetModels)
        {
            await Run(() => keys.SetModelsAsync(id, change.Models, http.RequestAborted));
        }

        if (change.SetExpiry)
        {
            await Run(() => keys.SetExpiryAsync(id, change.ExpiresUtc, http.RequestAborted));
        }

        var row = (await keys.ListAsync(http.RequestAborted)).FirstOrDefault(k => k.Id == id)
            ?? throw ApiException.NotFound("No API key with that id in this tenant.");
        return TypedResults.Ok(ToDto(row));
    }

    public static async Task<IResult> RevokeAsync(HttpContext http, Guid id, ApiKeyService keys)
        => await Run(() => keys.RevokeAsync(id, http.RequestAborted))
            ? TypedResults.NoContent()
            : throw ApiException.NotFound("No active API key with that id in this tenant.");

    /// <summary>How long the old secret keeps working when a rotation names no overlap (the console's default too).</summary>
    public static readonly TimeSpan DefaultRotationOverlap = TimeSpan.FromHours(24);

    internal static NewApiKey ParseNewKey(JsonElement root)
    {
        RequireObject(root);
        var name = JsonFields.RequiredString(root, "name", 128);
        if (!root.TryGetProperty("scopes", out var scopes) || scopes.ValueKind != JsonValueKind.Array || scopes.GetArrayLength() is 0 or > 8
            || scopes.EnumerateArray().Any(s => s.ValueKind != JsonValueKind.String))
        {
            throw ApiException.Invalid("scopes", $"scopes must be an array of 1 to 8 strings among: {string.Join(", ", ApiKeyScopes.All)}.");
        }

        var rpm = JsonFields.OptionalInt(root, "requestsPerMinute", 1, 1_000_000);
        var cap = JsonFields.OptionalLong(root, "capMicros", 1, long.MaxValue / 4);
        var period = JsonFields.OptionalString(root, "capPeriod", 16) switch
        {
            null or "month" => BudgetPeriod.Month,
            "day" => BudgetPeriod.Day,
            _ => throw ApiException.Invalid("capPeriod", "capPeriod must be day or month."),
        };
        return new NewApiKey(name, [.. scopes.EnumerateArray().Select(s => s.GetString()!)], rpm, cap, period, OptionalUtc(root, "expiresUtc"),
            OptionalModels(root));
    }

    /// <summary>A <c>PATCH</c>: a field present changes (null clears it), a field absent stays as it is.</summary>
    internal static KeyUpdate ParseUpdate(JsonElement root)
    {
        RequireObject(root);
        var setExpiry = root.TryGetProperty("expiresUtc", out _);
        var setModels = root.TryGetProperty("models", out _);
        if (!setExpiry && !setModels)
        {
            throw ApiException.Invalid("body", "Send expiresUtc and / or models (null clears either).");
        }

        return new KeyUpdate(setExpiry, setExpiry ? OptionalUtc(root, "expiresUtc") : null, setModels, setModels ? OptionalModels(root) : null);
    }

    internal sealed record KeyUpdate(bool SetExpiry, DateTime? ExpiresUtc, bool SetModels, IReadOnlyCollection<string>? Models);

    private static List<string>? OptionalModels(JsonElement root)
    {
        if (!root.TryGetProperty("models", out var models) || models.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (models.ValueKind != JsonValueKind.Array || models.GetArrayLength() > ApiKeyModels.MaxCount
            || models.EnumerateArray().Any(m => m.ValueKind != JsonValueKind.String || m.GetString()!.Length is 0 or > 256))
        {
            throw ApiException.Invalid("models", $"models must be an array of up to {ApiKeyModels.MaxCount} model names as /v1/models lists them (null: all).");
        }

        return [.. models.EnumerateArray().Select(m => m.GetString()!)];
    }

    internal static TimeSpan ParseRotation(JsonElement root)
    {
        RequireObject(root);
        var seconds = JsonFields.OptionalLong(root, "overlapSeconds", 0, (long)ApiKeyService.MaxRotationOverlap.TotalSeconds);
        return seconds is { } s ? TimeSpan.FromSeconds(s) : DefaultRotationOverlap;
    }

    private static void RequireObject(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }
    }

    // An instant with its offset (2027-01-01T00:00:00Z); a time without one is read as UTC, like every time here.
    private static DateTime? OptionalUtc(JsonElement root, string name)
    {
        var text = JsonFields.OptionalString(root, name, 64);
        if (text is null)
        {
            return null;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value)
            ? value.UtcDateTime
            : throw ApiException.Invalid(name, $"{name} must be an ISO 8601 time such as 2027-01-01T00:00:00Z.");
    }

    // The service speaks for the console; its refusals become the API's 400 (naming the field), 404 or 409.
    private static async Task Run(Func<Task> action) => await Run(async () => { await action(); return true; });

    private static async Task<T> Run<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (ApiKeyNotFoundException ex)
        {
            throw ApiException.NotFound(ex.Message);
        }
        catch (ApiKeyConflictException ex)
        {
            throw ApiException.Conflict(ex.Message);
        }
        catch (ApiKeyValidationException ex)
        {
            throw ApiException.Invalid(ex.Field ?? "body", ex.Message);
        }
    }

    private static ApiKeyDto ToDto(ApiKeyRow k) => new(
        k.Id, k.Name, k.Prefix, [.. ApiKeyScopes.All.Where(k.Scopes.Contains)], k.RequestsPerMinute,
        k.Caps.Select(c => new ApiKeyCapDto(c.Period == BudgetPeriod.Day ? "day" : "month", c.LimitMicros, c.SpentMicros)).ToList(),
        k.AllowedModels?.Order(StringComparer.OrdinalIgnoreCase).ToList(),
        k.CreatedUtc, k.LastUsedUtc, k.ExpiresUtc, k.RevokedUtc, k.RotatedUtc, k.PreviousPrefix, k.PreviousExpiresUtc,
        k.ThisMonth is { } month ? new ApiKeyMonthDto(month.Calls, month.CostMicros) : null);
}
