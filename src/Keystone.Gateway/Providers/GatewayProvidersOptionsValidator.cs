using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Providers;

/// <summary>Fails start-up with a message naming the exact setting (<c>Gateway:Providers:openai:Kind</c>) that is wrong.</summary>
internal sealed class GatewayProvidersOptionsValidator : IValidateOptions<GatewayProvidersOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayProvidersOptions options)
    {
        var errors = new List<string>();
        foreach (var (providerName, p) in options.Providers)
        {
            var prefix = $"Gateway:Providers:{providerName}";
            if (string.IsNullOrWhiteSpace(providerName) || providerName.Contains('/', StringComparison.Ordinal))
            {
                errors.Add($"{prefix}: a provider name must be non-empty and must not contain '/' (targets are written provider/model).");
            }

            if (!TryParseKind(p.Kind, out _))
            {
                errors.Add(p.Kind is null
                    ? $"{prefix}:Kind is required: one of OpenAI, Anthropic, Simulated, Local."
                    : $"{prefix}:Kind '{p.Kind}' is not a provider kind: use OpenAI, Anthropic, Simulated or Local.");
            }
            else if (TryParseKind(p.Kind, out var kind) && kind == ProviderKind.Local)
            {
                // A Local provider runs in this process: an address or a key means an OpenAI-compatible server was meant.
                if (p.BaseUrl is not null || p.ApiKey is not null)
                {
                    errors.Add($"{prefix}: a Local provider runs its model in this process and takes no BaseUrl or ApiKey; " +
                        "for a model server (Ollama, vLLM) use Kind OpenAI with its BaseUrl.");
                }

                foreach (var model in p.Models.Where(m => !Local.LocalEmbeddingModel.IsKnown(m)))
                {
                    errors.Add($"{prefix}:Models: '{model}' is not a local model; the Local provider runs {Local.LocalEmbeddingModel.Name}.");
                }
            }

            if (p.BaseUrl is not null && (!Uri.TryCreate(p.BaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            {
                errors.Add($"{prefix}:BaseUrl '{p.BaseUrl}' is not an absolute http(s) URL.");
            }

            if (p.MaxTokensParameter is not (null or "max_tokens" or "max_completion_tokens"))
            {
                errors.Add($"{prefix}:MaxTokensParameter must be max_tokens or max_completion_tokens.");
            }

            foreach (var (target, section) in new object[] { p, p.Simulated }.Select(o => (o, o == p ? prefix : prefix + ":Simulated")))
            {
                var results = new List<ValidationResult>();
                if (!Validator.TryValidateObject(target, new ValidationContext(target), results, validateAllProperties: true))
                {
                    errors.AddRange(results.Select(r => $"{section}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}"));
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public static bool TryParseKind(string? value, out ProviderKind kind)
    {
        kind = default;
        return value is not null && !int.TryParse(value, out _) && Enum.TryParse(value.Trim(), ignoreCase: true, out kind) && Enum.IsDefined(kind);
    }
}
