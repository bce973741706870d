namespace Keystone.Gateway.Providers;

/// <summary>
/// The providers section, <c>Gateway:Providers</c>: provider name → <see cref="ProviderOptions"/>. A provider named
/// <see cref="DefaultSimulatedName"/> of kind Simulated and one named <see cref="DefaultLocalName"/> of kind Local are
/// always added unless providers with those names are configured, so the gateway works offline out of the box (the
/// local model is loaded only when something embeds with it).
/// </summary>
public sealed class GatewayProvidersOptions
{
    public const string SectionName = "Gateway";

    /// <summary>The built-in simulated provider's name.</summary>
    public const string DefaultSimulatedName = "sim";

    /// <summary>The built-in local embedding provider's name (<c>local/all-MiniLM-L6-v2</c>).</summary>
    public const string DefaultLocalName = "local";

    /// <summary>The simulated models: fast, smart, reasoning and embedding.</summary>
    public static readonly IReadOnlyList<string> SimulatedModels = ["sim-fast", "sim-smart", "sim-reasoning", "sim-embed"];

    /// <summary>Configured providers by name (case-insensitive). Default: <c>sim</c> and <c>local</c>.</summary>
    public Dictionary<string, ProviderOptions> Providers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The configured providers plus the default <c>sim</c> when it is not configured.</summary>
    public IReadOnlyDictionary<string, ProviderOptions> Effective()
    {
        var all = new Dictionary<string, ProviderOptions>(Providers, StringComparer.OrdinalIgnoreCase);
        if (!all.ContainsKey(DefaultSimulatedName))
        {
            all[DefaultSimulatedName] = new ProviderOptions { Kind = nameof(ProviderKind.Simulated), Models = [.. SimulatedModels] };
        }

        if (!all.ContainsKey(DefaultLocalName))
        {
            all[DefaultLocalName] = new ProviderOptions { Kind = nameof(ProviderKind.Local), Models = [Local.LocalEmbeddingModel.Name] };
        }

        return all;
    }
}
