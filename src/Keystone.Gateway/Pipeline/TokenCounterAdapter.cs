using Keystone.Gateway.Tokenization;

namespace Keystone.Gateway.Pipeline;

/// <summary>The pipeline's token counts from the shared o200k_base <see cref="TokenCounter"/>.</summary>
internal sealed class TokenCounterAdapter(TokenCounter counter) : IPromptTokenCounter
{
    public int CountPrompt(ChatRequest request) => counter.CountChat(request.Messages, request.Tools);

    public int PromptUpperBound(ChatRequest request) => TokenCounter.UpperBoundChat(request.Messages, request.Tools);

    public int CountText(string text) => counter.Count(text);
}
