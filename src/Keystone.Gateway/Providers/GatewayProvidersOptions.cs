namespace Keystone.Gateway.Providers;

/// <summary>
/// The providers section, <c>Gateway:Providers</c>: provider name → <see cref="ProviderOptions"/>. A provider named
/// <see cref="DefaultSimulatedName"/> of kind Simulated is always added unless one with that name is configured,
/// so the gateway works offline out of the box.
/// </summary>
public sealed class GatewayProvidersOptions
{
    public const string SectionName = "Gateway";

    /// <summary>The built-in simulated provider's name.</summary>
    public const string DefaultSimulatedName = "sim";

    /// <summary>The simulated models: fast, smart, reasoning and embedding.</summary>
    public static readonly IReadOnlyList<string> SimulatedModels = ["sim-fast", "sim-smart", "sim-reasoning", "sim-embed"];

    /// <summary>Configured providers by name (case-insensitive). Default: only <c>sim</c>.</summary>
    public Dictionary<string, ProviderOptions> Providers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The configured providers plus the default <c>sim</c> when it is not configured.</summary>
    public IReadOnlyDictionary<string, ProviderOptions> Effective()
    {
        var all = new Dictionary<string, ProviderOptions>(Providers, StringComparer.OrdinalIgnoreCase);
        if (!all.ContainsKey(DefaultSimulatedName))
        {
            all[DefaultSimulatedName] = new ProviderOptions { Kind = nameof(ProviderKind.Simulated), Models = [.. SimulatedModels] };
        }

        return all;
    }
}
