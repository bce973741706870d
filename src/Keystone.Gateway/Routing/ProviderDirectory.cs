using Keystone.Gateway.Providers;

namespace Keystone.Gateway.Routing;

/// <summary>
/// Every provider the gateway can call: the configured ones (<see cref="ProviderRegistry"/>) and any adapter
/// registered directly as <see cref="IModelProvider"/> (a host's own, or a test's), the latter winning on a name clash.
/// </summary>
internal sealed class ProviderDirectory
{
    private readonly Dictionary<string, IModelProvider> _providers = new(StringComparer.OrdinalIgnoreCase);

    public ProviderDirectory(ProviderRegistry registry, IEnumerable<IModelProvider> registered)
    {
        foreach (var p in registry.All)
        {
            _providers[p.Name] = p.Provider;
        }

        foreach (var p in registered)
        {
            _providers[p.Name] = p;
        }
    }

    public bool Contains(string name) => _providers.ContainsKey(name);

    public IModelProvider? Find(string name) => _providers.GetValueOrDefault(name);
}
