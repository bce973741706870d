using System.Diagnostics.CodeAnalysis;

namespace Keystone.Gateway.Routing;

/// <summary>One <c>provider/model</c> target of an alias chain.</summary>
/// <param name="Provider">The configured provider name (<c>openai</c>, <c>sim</c>).</param>
/// <param name="Model">The provider's model name.</param>
public sealed record ModelTarget(string Provider, string Model)
{
    /// <summary>Parses <c>provider/model</c> (the model part may itself contain slashes, as OpenRouter's do).</summary>
    public static bool TryParse(string? value, [NotNullWhen(true)] out ModelTarget? target)
    {
        target = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var slash = value.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == value.Length - 1)
        {
            return false;
        }

        target = new ModelTarget(value[..slash].Trim(), value[(slash + 1)..].Trim());
        return true;
    }

    public override string ToString() => Provider + "/" + Model;
}
