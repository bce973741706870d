namespace Keystone.Web.Platform;

/// <summary>One entry of the console's notifications (the bell in the app bar): what happened, in plain words, and where to act on it.</summary>
/// <param name="Id">Stable id (for keys and tests).</param>
/// <param name="Title">Short headline.</param>
/// <param name="Text">One sentence with the numbers.</param>
/// <param name="Href">The page where it is handled.</param>
/// <param name="CreatedUtc">When it was raised.</param>
internal sealed record ConsoleNotification(string Id, string Title, string Text, string Href, DateTime CreatedUtc);

/// <summary>
/// A feature's open notifications for the signed-in user (scoped: it reads the user from <see cref="TenantContext"/> and
/// returns only what that user may see). Features register theirs; the shared layout lists them all without depending on
/// any feature, as the navigation's badges do.
/// </summary>
internal interface IConsoleNotificationSource
{
    /// <summary>True when this source has anything for the signed-in user's roles (the bell is shown only then).</summary>
    bool Applies { get; }

    Task<IReadOnlyList<ConsoleNotification>> ListAsync(CancellationToken ct);
}

/// <summary>
/// Raised by a feature when its notifications changed in this instance, so open consoles refresh at once; the bell also
/// re-reads on a timer for changes made by other instances.
/// </summary>
internal sealed class ConsoleNotificationSignal
{
    public event Action? Changed;

    public void Raise() => Changed?.Invoke();
}
