using Keystone.Gateway.Recording;

namespace Keystone.Gateway;

/// <summary>
/// One copy of a long message text that many requests send alike (an application's system prompt, earlier turns of a
/// conversation sent again with each call), for whoever builds a <see cref="ChatRequest"/> from a request body (issue 26,
/// memory per open stream). Each request parses its own copy of such a text, and an open stream keeps its request (and
/// so that copy) until it ends: 1,000 open streams with the benchmark's 2 KB system prompt held 1,000 copies of it,
/// 4.2 KB each as a .NET string (a heap dump at 1,000 streams). Swapped at parse time for the copy already held, the
/// request's own copy dies young and the open streams share one. The recorder's queue shares through the same table
/// (decision 0057), so a text swapped here is found there by reference.
/// </summary>
/// <remarks>
/// Process-wide: the table holds immutable strings and swaps a text only for one that compares equal (ordinal), so
/// sharing it between hosts, tenants or tests can change no request's content; see <see cref="RepeatedTexts"/> for its
/// size and cost (64 slots, texts of 256 characters or more, a lookup well under a microsecond).
/// </remarks>
public static class SharedMessageTexts
{
    internal static RepeatedTexts Table { get; } = new();

    /// <summary>The copy already held of <paramref name="text"/> when there is one (equal, ordinal), else <paramref name="text"/>.</summary>
    public static string? Share(string? text) => text is null ? null : Table.Share(text);
}
