namespace Keystone.Gateway;

/// <summary>
/// The rule for a feature label (<c>X-Keystone-Feature</c>, cache settings, caps): 1–64 ASCII letters, digits and
/// <c>- _ . : /</c>, so a label is safe in a URL path, a metric tag and a log line alike.
/// </summary>
public static class FeatureLabel
{
    public const int MaxLength = 64;

    /// <summary>The rule in words, for error messages.</summary>
    public const string Rule = "1–64 characters of letters, digits, '-', '_', '.', ':' or '/'";

    public static bool IsValid(string? label)
        => label is { Length: > 0 and <= MaxLength } && label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '/');
}
