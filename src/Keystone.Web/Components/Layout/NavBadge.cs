namespace Keystone.Web.Components.Layout;

/// <summary>
/// A component a feature shows beside one navigation entry (a count of what waits there), registered as a singleton by
/// the feature, so the shared navigation shows it without depending on the feature.
/// </summary>
/// <param name="Href">The entry's <see cref="NavEntry.Href"/>.</param>
/// <param name="Component">A component without required parameters; it renders nothing when there is nothing to count.</param>
internal sealed record NavBadge(string Href, Type Component);
