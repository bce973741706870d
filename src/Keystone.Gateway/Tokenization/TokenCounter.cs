using Microsoft.ML.Tokenizers;

namespace Keystone.Gateway.Tokenization;

/// <summary>
/// Counts tokens with the real o200k_base encoding (GPT-4o and later; Microsoft.ML.Tokenizers with its data
/// package). Used by the simulated provider for its usage, by the Anthropic adapter to decide whether a static
/// prefix is long enough to cache, and by the pipeline to count prompt tokens for budget reservations.
/// Thread-safe singleton: the encoding is loaded once.
/// </summary>
public sealed class TokenCounter
{
    /// <summary>OpenAI's chat format adds a few tokens per message (role and separators) and primes the reply.</summary>
    public const int TokensPerMessage = 3;

    /// <summary>Tokens that prime the assistant's reply.</summary>
    public const int ReplyPrimingTokens = 3;

    private static readonly Lazy<TokenCounter> Shared = new(() => new TokenCounter());

    private readonly Tokenizer _tokenizer = TiktokenTokenizer.CreateForEncoding("o200k_base");

    /// <summary>The process-wide instance (loading the encoding takes a moment; do it once).</summary>
    public static TokenCounter Instance => Shared.Value;

    /// <summary>Tokens in <paramref name="text"/>.</summary>
    public int Count(string? text) => string.IsNullOrEmpty(text) ? 0 : _tokenizer.CountTokens(text);

    /// <summary>Token ids of <paramref name="text"/>.</summary>
    public IReadOnlyList<int> Encode(string text) => _tokenizer.EncodeToIds(text);

    /// <summary>Text of token ids.</summary>
    public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids);

    /// <summary>Prompt tokens of a chat the way OpenAI counts them: per message overhead, role, name, content and tool calls, plus reply priming.</summary>
    public int CountChat(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools = null)
    {
        var total = ReplyPrimingTokens;
        foreach (var m in messages)
        {
            total += TokensPerMessage + Count(m.Role) + Count(m.Content) + Count(m.Name);
            if (m.ToolCalls is not null)
            {
                foreach (var call in m.ToolCalls)
                {
                    total += Count(call.Name) + Count(call.ArgumentsJson);
                }
            }
        }

        if (tools is not null)
        {
            foreach (var tool in tools)
            {
                total += Count(tool.Name) + Count(tool.Description) + (tool.Parameters is { } p ? Count(p.GetRawText()) : 0);
            }
        }

        return total;
    }
}
