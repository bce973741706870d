namespace Keystone.Gateway.Providers;

/// <summary>A configured provider: its adapter and the settings it was built from.</summary>
/// <param name="Name">The configured name (<c>Gateway:Providers:&lt;name&gt;</c>).</param>
/// <param name="Kind">Its wire format.</param>
/// <param name="PriceKey">Its key in <c>model_prices</c>.</param>
/// <param name="Provider">The adapter.</param>
/// <param name="Options">Its settings (the API key included: never log this object).</param>
public sealed record RegisteredProvider(string Name, ProviderKind Kind, string PriceKey, IModelProvider Provider, ProviderOptions Options);
