using System.Runtime.InteropServices;
using System.Text.Json;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Api;

/// <summary><c>POST /v1/embeddings</c> and <c>GET /v1/models</c>.</summary>
internal static class EmbeddingsEndpoint
{
    private const int MaxInputs = 2048;

    public static async Task<IResult> EmbedAsync(HttpContext http, ILlmGateway gateway, ApiRequestBody body)
    {
        var ct = http.RequestAborted;
        var key = ApiKeyContext.KeyOf(http) ?? throw new InvalidOperationException("API key authentication did not run.");
        var (request, base64, user) = await body.ReadAsync(http.Request, Parse, ct);
        ApiHttp.EnsureKeyMayUse(key, request.Model);
        var context = new CallContext
        {
            TenantId = key.TenantId,
            ApiKeyId = key.KeyId,
            EndUser = user,
            Feature = ApiHttp.FeatureOf(http.Request),
            RequestId = http.TraceIdentifier,
            TraceId = ApiHttp.TraceIdOf(http),
        };

        var result = await gateway.EmbedAsync(request, context, ct);
        ApiHttp.SetOutcomeHeaders(http.Response, result.Outcome, includeCost: true);
        var data = result.Vectors.Select((v, i) => new EmbeddingDto("embedding", i, base64
            ? JsonSerializer.SerializeToElement(Convert.ToBase64String(MemoryMarshal.AsBytes(v.AsSpan())))
            : JsonSerializer.SerializeToElement(v))).ToList();
        return TypedResults.Json(new EmbeddingList("list", data, result.Outcome.Model ?? request.Model,
            new EmbeddingUsage(result.Usage.InputTokens, result.Usage.InputTokens, result.Outcome.CostMicros)));
    }

    public static async Task<IResult> ModelsAsync(HttpContext http, ILlmGateway gateway)
    {
        var key = ApiKeyContext.KeyOf(http) ?? throw new InvalidOperationException("API key authentication did not run.");
        var models = await gateway.ModelsAsync(key.TenantId, http.RequestAborted);
        return TypedResults.Json(new ModelList("list", models.Where(m => key.MayUse(m.Id))
            .Select(m => new ModelDto(m.Id, "model", 0, "keystone", m.Kind, m.Targets, m.IsEmbedding)).ToList()));
    }

    /// <summary>
    /// <c>GET /v1/models/{model}</c> (OpenAI's "retrieve model"): one entry of the list above, or 404
    /// <c>model_not_found</c> for a model the tenant or the key may not use. Model ids hold a slash
    /// (<c>openai/gpt-4o</c>); SDKs send it escaped (<c>%2F</c>), which the path keeps, so the id is unescaped here.
    /// </summary>
    public static async Task<IResult> ModelAsync(HttpContext http, ILlmGateway gateway, string model)
    {
        var key = ApiKeyContext.KeyOf(http) ?? throw new InvalidOperationException("API key authentication did not run.");
        var id = Uri.UnescapeDataString(model);
        var models = await gateway.ModelsAsync(key.TenantId, http.RequestAborted);
        var found = models.FirstOrDefault(m => string.Equals(m.Id, id, StringComparison.OrdinalIgnoreCase) && key.MayUse(m.Id))
            ?? throw new ApiException(404, GatewayErrorCodes.ModelNotFound,
                $"The model '{(id.Length <= 256 ? id : id[..256] + "…")}' does not exist or this key may not use it; GET /v1/models lists the ones it may.", "model");
        return TypedResults.Json(new ModelDto(found.Id, "model", 0, "keystone", found.Kind, found.Targets, found.IsEmbedding));
    }

    internal static (EmbeddingRequest Request, bool Base64, string? User) Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        var model = JsonFields.RequiredString(root, "model", 256);
        if (!root.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
        {
            throw ApiException.Invalid("input", "input is required.");
        }

        List<string> inputs;
        if (input.ValueKind == JsonValueKind.String)
        {
            inputs = [input.GetString()!];
        }
        else if (input.ValueKind == JsonValueKind.Array)
        {
            inputs = [];
            var i = 0;
            foreach (var item in input.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String)
                {
                    throw ApiException.Invalid($"input[{i}]", "input must be a string or an array of strings (token arrays are not supported).");
                }

                inputs.Add(item.GetString()!);
                i++;
            }
        }
        else
        {
            throw ApiException.Invalid("input", "input must be a string or an array of strings.");
        }

        if (inputs.Count is 0 or > MaxInputs)
        {
            throw ApiException.Invalid("input", $"input must hold between 1 and {MaxInputs} strings.");
        }

        if (inputs.FindIndex(s => s.Length == 0) is var empty and >= 0)
        {
            throw ApiException.Invalid(input.ValueKind == JsonValueKind.String ? "input" : $"input[{empty}]", "input strings must not be empty.");
        }

        var dimensions = JsonFields.OptionalInt(root, "dimensions", 1, 65_536);
        var format = JsonFields.OptionalString(root, "encoding_format", 16) ?? "float";
        if (format is not ("float" or "base64"))
        {
            throw ApiException.Invalid("encoding_format", "encoding_format must be float or base64.");
        }

        var user = JsonFields.OptionalString(root, "user", 256);
        return (new EmbeddingRequest { Model = model, Inputs = inputs, Dimensions = dimensions }, format == "base64", user);
    }
}
