using Keystone.Gateway.Providers;
using Keystone.Gateway.Providers.Local;
using Keystone.Gateway.Routing;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>Fills in the defaults that configuration binding cannot (dictionaries would merge rather than replace).</summary>
internal sealed class GatewayOptionsDefaults : IPostConfigureOptions<GatewayOptions>
{
    public void PostConfigure(string? name, GatewayOptions options)
    {
        foreach (var (alias, targets) in GatewayOptions.DefaultAliases)
        {
            options.Aliases.TryAdd(alias, [.. targets]);
        }

        options.DegradeTo.TryAdd("smart", "fast");
        options.DegradeTo.TryAdd("reasoning", "smart");
        if (options.DefaultSoftThresholdsPercent.Count == 0)
        {
            options.DefaultSoftThresholdsPercent.Add(80);
        }
    }
}

/// <summary>Checks what DataAnnotations cannot: target syntax and alias references. Fails start naming the setting.</summary>
internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    /// <summary>$10,000 per million tokens: far above any real price, low enough that a cost never overflows.</summary>
    private const long MaxFallbackMicrosPerMillion = 10_000_000_000;

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        foreach (var (alias, targets) in options.Aliases)
        {
            if (alias.Contains('/', StringComparison.Ordinal))
            {
                errors.Add($"Gateway:Aliases:{alias}: an alias may not contain '/'.");
            }

            if (targets.Count == 0)
            {
                errors.Add($"Gateway:Aliases:{alias}: needs at least one 'provider/model' target.");
            }

            for (var i = 0; i < targets.Count; i++)
            {
                if (!ModelTarget.TryParse(targets[i], out _))
                {
                    errors.Add($"Gateway:Aliases:{alias}:{i}: '{targets[i]}' is not 'provider/model'.");
                }
            }
        }

        foreach (var (from, to) in options.DegradeTo)
        {
            if (!options.Aliases.ContainsKey(to))
            {
                errors.Add($"Gateway:DegradeTo:{from}: '{to}' is not a configured alias.");
            }
        }

        foreach (var (feature, settings) in options.Features)
        {
            if (settings.SemanticThreshold is < 0.5 or > 1 || double.IsNaN(settings.SemanticThreshold))
            {
                errors.Add($"Gateway:Features:{feature}:SemanticThreshold: {settings.SemanticThreshold} is not between 0.5 and 1.");
            }

            if (settings.SemanticCache && !options.HasEmbeddingModel)
            {
                errors.Add($"Gateway:SemanticCacheAlias: '{options.SemanticCacheAlias}' (used by Gateway:Features:{feature}:SemanticCache) is neither a configured alias nor 'provider/model'.");
            }
        }

        foreach (var t in options.DefaultSoftThresholdsPercent)
        {
            if (t is < 1 or > 100)
            {
                errors.Add($"Gateway:DefaultSoftThresholdsPercent: {t} is not between 1 and 100.");
            }
        }

        if (options.MaxCallDuration < options.AttemptTimeout)
        {
            errors.Add($"Gateway:MaxCallDuration: {options.MaxCallDuration} is shorter than Gateway:AttemptTimeout ({options.AttemptTimeout}).");
        }

        var unpriced = options.UnpricedModels;
        foreach (var (setting, value) in new[]
        {
            ("InputMicrosPerMillion", unpriced.InputMicrosPerMillion),
            ("OutputMicrosPerMillion", unpriced.OutputMicrosPerMillion),
            ("EmbeddingMicrosPerMillion", unpriced.EmbeddingMicrosPerMillion),
        })
        {
            // Zero would make every unpriced call free again, which is what the fallback exists to prevent.
            if (value is < 1 or > MaxFallbackMicrosPerMillion)
            {
                errors.Add($"Gateway:UnpricedModels:{setting}: {value} is not between 1 and {MaxFallbackMicrosPerMillion} micro-USD per million tokens.");
            }
        }

        if (!Enum.IsDefined(unpriced.Action))
        {
            errors.Add($"Gateway:UnpricedModels:Action: {unpriced.Action} is not Fallback or Refuse.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// Aliases on a <see cref="ProviderKind.Local"/> provider: its model must be one that ships, and an alias is either all
/// local embeddings or none (a chain that falls back from the local model to a chat model, or back, is a mistake that
/// would only show on the first failure). Fails start naming the alias.
/// </summary>
internal sealed class LocalTargetsValidator(IOptions<GatewayProvidersOptions> providers) : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var effective = providers.Value.Effective();
        var errors = new List<string>();
        foreach (var (alias, targets) in options.Aliases)
        {
            var parsed = targets.Select(t => ModelTarget.TryParse(t, out var m) ? m : null).OfType<ModelTarget>().ToList();
            var local = parsed.Where(t => effective.TryGetValue(t.Provider, out var p)
                && GatewayProvidersOptionsValidator.TryParseKind(p.Kind, out var kind) && kind == ProviderKind.Local).ToList();
            foreach (var t in local.Where(t => !LocalEmbeddingModel.IsKnown(t.Model)))
            {
                errors.Add($"Gateway:Aliases:{alias}: '{t}' is not a local model; the Local provider runs {LocalEmbeddingModel.Name}.");
            }

            if (local.Count > 0 && local.Count < parsed.Count)
            {
                errors.Add($"Gateway:Aliases:{alias}: mixes the Local provider (embeddings only) with other providers; give it its own alias.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
