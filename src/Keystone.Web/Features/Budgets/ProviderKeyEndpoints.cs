using System.Text.Json;
using Keystone.Gateway.Credentials;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Budgets;

/// <summary>
/// One of the tenant's own provider keys, masked: <c>/api/v1/provider-keys</c> never returns a secret. <c>Check</c> is the
/// last try against the provider (<c>accepted</c>, <c>rejected</c> or <c>unverified</c>; null for keys saved before
/// checks), <c>Verified</c> whether it was accepted, <c>Reason</c> why not.
/// </summary>
internal sealed record ProviderKeyDto(string Provider, string Key, DateTime UpdatedUtc, bool Verified, string? Check, string? Reason, DateTime? CheckedUtc)
{
    public static ProviderKeyDto Of(ProviderCredentialInfo k) => new(k.Provider, k.Masked, k.UpdatedUtc, k.Verified, k.CheckResult, k.CheckReason, k.CheckedUtc);
}

/// <summary><c>GET /api/v1/provider-keys</c>.</summary>
internal sealed record ProviderKeyListDto(IReadOnlyList<ProviderKeyDto> Keys, IReadOnlyList<string> Providers);

/// <summary>The body of <c>PUT /api/v1/provider-keys/{provider}</c> (documentation only).</summary>
internal sealed record ProviderKeyInputDoc(string ApiKey);

/// <summary>
/// <c>/api/v1/provider-keys</c>: the budgets page's BYOK keys through an <c>admin</c> key. The console's
/// <see cref="BudgetSettingsService"/> does the work, so validation, encryption, masking and the audit trail (the
/// acting key is the actor, the secret never recorded) are the same as on <c>/budgets</c>.
/// </summary>
internal static class ProviderKeyEndpoints
{
    /// <summary>The 422's code when the provider refused the key (401/403) and it was not stored.</summary>
    public const string ProviderKeyRejectedCode = "provider_key_rejected";

    public static async Task<IResult> ListAsync(HttpContext http, BudgetSettingsService budgets)
    {
        var keys = await budgets.ProviderKeysAsync(http.RequestAborted);
        return TypedResults.Ok(new ProviderKeyListDto(
            keys.Select(ProviderKeyDto.Of).ToList(),
            budgets.Providers().Select(p => p.Name).ToList()));
    }

    public static async Task<IResult> PutAsync(HttpContext http, string provider, ApiRequestBody body, BudgetSettingsService budgets)
    {
        var apiKey = await body.ReadAsync(http.Request, Parse, http.RequestAborted);
        try
        {
            var saved = await budgets.SetProviderKeyAsync(provider, apiKey, http.RequestAborted);
            return TypedResults.Ok(ProviderKeyDto.Of(saved));
        }
        catch (ProviderKeyRejectedException ex)
        {
            throw ApiException.Unprocessable(ProviderKeyRejectedCode, ex.Field, ex.Message);
        }
        catch (BudgetSettingsConflictException ex)
        {
            throw ApiException.Conflict(ex.Message);
        }
        catch (BudgetSettingsException ex)
        {
            throw ApiException.Invalid(ex.Field, ex.Message);
        }
    }

    /// <summary>
    /// <c>POST /api/v1/provider-keys/{provider}/test</c>: the page's "Test again" — tries the stored key against its provider
    /// and records the result; the key is kept whatever the answer (a rejected key stays until it is replaced or removed).
    /// </summary>
    public static async Task<IResult> TestAsync(HttpContext http, string provider, BudgetSettingsService budgets)
    {
        try
        {
            return TypedResults.Ok(ProviderKeyDto.Of(await budgets.TestProviderKeyAsync(provider, http.RequestAborted)));
        }
        catch (ProviderKeyMissingException ex)
        {
            throw ApiException.NotFound(ex.Message);
        }
        catch (BudgetSettingsException ex)
        {
            throw ApiException.Invalid(ex.Field, ex.Message);
        }
    }

    public static async Task<IResult> DeleteAsync(HttpContext http, string provider, BudgetSettingsService budgets)
        => await budgets.RemoveProviderKeyAsync(provider, http.RequestAborted)
            ? TypedResults.NoContent()
            : throw ApiException.NotFound($"This tenant has no key of its own for '{provider}'.");

    internal static string Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        return JsonFields.RequiredString(root, "apiKey", BudgetSettingsService.MaxProviderKeyLength);
    }
}
