using System.Collections.Frozen;
using Keystone.Gateway.Providers.Anthropic;
using Keystone.Gateway.Providers.Local;
using Keystone.Gateway.Providers.OpenAi;
using Keystone.Gateway.Providers.Simulated;
using Keystone.Gateway.Tokenization;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Providers;

/// <summary>
/// Provider name → adapter, built once from <see cref="GatewayProvidersOptions"/> (validated at start-up). The pipeline
/// resolves <c>provider/model</c> targets here and costs calls with <see cref="PriceKeyOf"/>.
/// </summary>
public sealed class ProviderRegistry
{
    private readonly FrozenDictionary<string, RegisteredProvider> _providers;

    public ProviderRegistry(IOptions<GatewayProvidersOptions> options, IHttpClientFactory httpClients, TokenCounter tokens, TimeProvider time)
    {
        var built = new Dictionary<string, RegisteredProvider>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, o) in options.Value.Effective())
        {
            if (!GatewayProvidersOptionsValidator.TryParseKind(o.Kind, out var kind))
            {
                throw new OptionsValidationException(GatewayProvidersOptions.SectionName, typeof(GatewayProvidersOptions),
                    [$"Gateway:Providers:{name}:Kind '{o.Kind}' is not a provider kind: use OpenAI, Anthropic, Simulated or Local."]);
            }

            IModelProvider provider = kind switch
            {
                ProviderKind.OpenAI => new OpenAiProvider(name, o, httpClients, time),
                ProviderKind.Anthropic => new AnthropicProvider(name, o, httpClients, tokens, time),
                ProviderKind.Local => new LocalProvider(name),
                _ => new SimulatedProvider(name, o, tokens, time),
            };
            built[name] = new RegisteredProvider(name, kind, o.PriceKey ?? kind.ToString().ToLowerInvariant(), provider, o);
        }

        _providers = built.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The named client every adapter of provider <paramref name="providerName"/> sends through.</summary>
    public static string HttpClientName(string providerName) => "keystone-provider-" + providerName.ToLowerInvariant();

    /// <summary>Every provider, by name.</summary>
    public IReadOnlyCollection<RegisteredProvider> All => _providers.Values;

    /// <summary>The provider called <paramref name="name"/> (case-insensitive), or null.</summary>
    public RegisteredProvider? Find(string name) => _providers.GetValueOrDefault(name);

    /// <summary>The adapter called <paramref name="name"/>; throws <see cref="KeyNotFoundException"/> naming it when there is none.</summary>
    public IModelProvider Get(string name) => Find(name)?.Provider
        ?? throw new KeyNotFoundException($"No provider named '{name}' is configured (Gateway:Providers:{name}).");

    /// <summary>The price key of provider <paramref name="name"/> (its kind in lower case unless configured), or null when unknown.</summary>
    public string? PriceKeyOf(string name) => Find(name)?.PriceKey;
}
