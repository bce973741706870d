namespace Keystone.Gateway.Recording;

/// <summary>
/// Long message texts that repeat from call to call (an application's system prompt, the earlier turns of a
/// conversation sent again with each call) held once by the recorder's queue instead of once per queued call (issue 26,
/// decision 0057). Each request parses its own copy of such a text; once the call is answered, the queued record is the
/// only thing that keeps it, and a backlog of thousands of records kept thousands of copies (a 2 KB system prompt is
/// 4 KB as a .NET string: more than half of a queued record with the realistic payload), all promoted to gen2 by the
/// time they are written. Swapping the copy for the one already held lets the request's copy die young instead.
/// </summary>
/// <remarks>
/// A fixed table of <see cref="Slots"/> recent texts, picked by a hash of the text's length and ends: a lookup costs the
/// hash of at most 128 characters and, on a match, one ordinal comparison (vectorized; well under a microsecond for a
/// 2 KB prompt). A different text in the same slot replaces it (the table never grows); a text seen only once costs
/// nothing but its slot. Races between threads are harmless: a slot holds one reference, read and written atomically,
/// and a text is only ever swapped for one that compares equal, so at worst a copy is not shared.
/// </remarks>
internal sealed class RepeatedTexts
{
    /// <summary>Shorter texts are left as they are: the saving would not pay for the lookup.</summary>
    internal const int MinLength = 256;

    /// <summary>How many distinct long texts are remembered at once.</summary>
    internal const int Slots = 64;

    private const int EndLength = 64;

    private readonly string?[] _slots = new string?[Slots];

    /// <summary>The copy already held of <paramref name="text"/> when there is one, else <paramref name="text"/> (now held).</summary>
    public string Share(string text)
    {
        if (text.Length < MinLength)
        {
            return text;
        }

        ref var slot = ref _slots[Slot(text)];
        var known = Volatile.Read(ref slot);
        if (known is not null && (ReferenceEquals(known, text) || string.Equals(known, text, StringComparison.Ordinal)))
        {
            return known;
        }

        Volatile.Write(ref slot, text);
        return text;
    }

    /// <summary>
    /// The request with each long message text replaced by the copy already held (the same request when nothing was
    /// shared). The request is not changed: a new request with new message records is returned.
    /// </summary>
    public ChatRequest Share(ChatRequest request)
    {
        var messages = request.Messages;
        ChatMessage[]? copy = null;
        for (var i = 0; i < messages.Count; i++)
        {
            var content = messages[i].Content;
            if (content is null || content.Length < MinLength)
            {
                continue;
            }

            var shared = Share(content);
            if (!ReferenceEquals(shared, content))
            {
                copy ??= [.. messages];
                copy[i] = messages[i] with { Content = shared };
            }
        }

        return copy is null ? request : request with { Messages = copy };
    }

    private static int Slot(string text)
    {
        var span = text.AsSpan();
        var hash = HashCode.Combine(text.Length, string.GetHashCode(span[..EndLength]), string.GetHashCode(span[^EndLength..]));
        return (int)((uint)hash % Slots);
    }
}
