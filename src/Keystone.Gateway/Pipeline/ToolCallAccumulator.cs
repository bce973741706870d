using System.Text;

namespace Keystone.Gateway.Pipeline;

/// <summary>Assembles streamed tool-call fragments (index, then id and name once, then argument pieces) into calls.</summary>
internal sealed class ToolCallAccumulator
{
    private readonly SortedDictionary<int, (string? Id, string? Name, StringBuilder Args)> _calls = [];

    public void Add(ProviderToolCallDelta d)
    {
        if (!_calls.TryGetValue(d.Index, out var c))
        {
            c = (null, null, new StringBuilder());
        }

        c.Id ??= d.Id;
        c.Name ??= d.Name;
        c.Args.Append(d.ArgumentsFragment);
        _calls[d.Index] = c;
    }

    /// <summary>All argument text received (for estimating output tokens).</summary>
    public string ArgumentsText => string.Concat(_calls.Values.Select(c => c.Name + c.Args));

    public IReadOnlyList<ToolCall> Build() => _calls.Values.Select(c => new ToolCall(c.Id ?? "", c.Name ?? "", c.Args.ToString())).ToList();
}
