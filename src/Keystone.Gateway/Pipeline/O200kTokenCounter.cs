using Microsoft.ML.Tokenizers;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// The o200k_base encoding (GPT-4o family) for every model: exact for OpenAI, a close estimate for the others,
/// which is what a reservation needs (settlement uses the provider's reported usage).
/// </summary>
internal sealed class O200kTokenCounter : IPromptTokenCounter
{
    // OpenAI's chat framing: a few tokens per message plus the reply primer.
    private const int PerMessage = 3;
    private const int ReplyPrimer = 3;

    private static readonly Lazy<Tokenizer> Encoding = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));

    public int CountText(string text) => string.IsNullOrEmpty(text) ? 0 : Encoding.Value.CountTokens(text);

    public int CountPrompt(ChatRequest request)
    {
        var total = ReplyPrimer;
        foreach (var m in request.Messages)
        {
            total += PerMessage + CountText(m.Role) + CountText(m.Content ?? "");
            if (m.Name is not null)
            {
                total += CountText(m.Name);
            }

            foreach (var call in m.ToolCalls ?? [])
            {
                total += CountText(call.Name) + CountText(call.ArgumentsJson);
            }
        }

        foreach (var tool in request.Tools ?? [])
        {
            total += CountText(tool.Name) + CountText(tool.Description ?? "") + CountText(tool.Parameters?.GetRawText() ?? "");
        }

        return total;
    }
}
