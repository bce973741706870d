namespace Keystone.Gateway.Pipeline;

/// <summary>Counts tokens before a call (budget reservation) and of partial output (cancelled streams).</summary>
public interface IPromptTokenCounter
{
    /// <summary>Tokens of the prompt: every message's text, tool calls and tool definitions, plus per-message framing.</summary>
    int CountPrompt(ChatRequest request);

    /// <summary>
    /// A number never below <see cref="CountPrompt"/> for the same request, from the texts' lengths alone (no tokenizing):
    /// the budget reservation uses it while a cap is far from its limit (decision 0048).
    /// </summary>
    int PromptUpperBound(ChatRequest request);

    /// <summary>Tokens of a text.</summary>
    int CountText(string text);
}
