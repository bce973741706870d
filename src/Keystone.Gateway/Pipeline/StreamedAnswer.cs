using System.Text;
using Keystone.Gateway.Caching;

namespace Keystone.Gateway.Pipeline;

/// <summary>What a streamed call has passed on to its caller so far: text, tool-call fragments, and the finish and usage the provider reported.</summary>
internal sealed class StreamedAnswer
{
    private readonly StringBuilder _text = new();
    private readonly ToolCallAccumulator _tools = new();

    public string FinishReason { get; set; } = "stop";

    /// <summary>Usage as the provider reported it; null when it did not (the output is then estimated).</summary>
    public Usage? Usage { get; set; }

    public void Add(ProviderTextDelta delta) => _text.Append(delta.Text);

    public void Add(ProviderToolCallDelta delta) => _tools.Add(delta);

    /// <summary>Everything received as text (answer and tool-call arguments), for estimating output tokens.</summary>
    public string Received => _text.ToString() + _tools.ArgumentsText;

    public CachedAnswer ToAnswer(string finishReason, Usage usage) => new(_text.ToString(), _tools.Build(), finishReason, usage);
}
