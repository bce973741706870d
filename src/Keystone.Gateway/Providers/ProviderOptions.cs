using System.ComponentModel.DataAnnotations;
using Keystone.Gateway.Providers.Simulated;

namespace Keystone.Gateway.Providers;

/// <summary>
/// One provider, <c>Gateway:Providers:&lt;name&gt;</c>. The API key comes from the environment
/// (<c>Gateway__Providers__openai__ApiKey</c>) or user-secrets, never from <c>appsettings.json</c>.
/// </summary>
public sealed class ProviderOptions
{
    /// <summary>
    /// <c>OpenAI</c>, <c>Anthropic</c>, <c>Simulated</c> or <c>Local</c> (an in-process embedding model; embeddings only, no
    /// <c>BaseUrl</c> or <c>ApiKey</c>) (case-insensitive). Required; a typo fails start-up.
    /// </summary>
    public string? Kind { get; set; }

    /// <summary>
    /// Base URL the endpoint paths are appended to. Defaults: <c>https://api.openai.com/v1/</c> (OpenAI),
    /// <c>https://api.anthropic.com/v1/</c> (Anthropic); unused by Simulated. Point it at any OpenAI-compatible
    /// server (Ollama <c>http://localhost:11434/v1/</c>, vLLM, OpenRouter, Azure OpenAI's <c>/openai/v1/</c>, Gemini's
    /// <c>/v1beta/openai/</c>).
    /// </summary>
    public string? BaseUrl { get; set; }

    /// <summary>The platform's key for this provider. Default: none (no auth header; BYOK calls bring their own).</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Header carrying the key for OpenAI-kind providers: <c>Authorization</c> (as <c>Bearer &lt;key&gt;</c>, the default)
    /// or a raw header name such as <c>api-key</c> (Azure OpenAI). Anthropic always uses <c>x-api-key</c>.
    /// </summary>
    [MaxLength(64)]
    public string ApiKeyHeader { get; set; } = "Authorization";

    /// <summary>
    /// Limit for a whole non-streamed call, and for a stream until its response headers arrive, in seconds.
    /// Default 120.
    /// </summary>
    [Range(1, 3600)]
    public int TimeoutSeconds { get; set; } = 120;

    /// <summary>Longest silence allowed between two chunks of a stream, in seconds. Default 60.</summary>
    [Range(1, 3600)]
    public int StreamIdleTimeoutSeconds { get; set; } = 60;

    /// <summary>
    /// OpenAI kind: the output-limit field, <c>max_completion_tokens</c> or <c>max_tokens</c>. Default (null):
    /// <c>max_completion_tokens</c> for api.openai.com and Azure, <c>max_tokens</c> for other compatible servers,
    /// which mostly only know the older field.
    /// </summary>
    public string? MaxTokensParameter { get; set; }

    /// <summary>Anthropic kind: the <c>anthropic-version</c> header. Default <c>2023-06-01</c>.</summary>
    public string AnthropicVersion { get; set; } = "2023-06-01";

    /// <summary>
    /// Anthropic kind: the smallest static prefix (tools + system prompt, in tokens) that gets a <c>cache_control</c>
    /// breakpoint. Default (null): the model's documented minimum (1024 for Sonnet 4.5 and Opus 4.1, 4096 for Opus 4.5
    /// and Haiku 4.5, 2048 for Haiku 3.x).
    /// </summary>
    public int? PromptCacheMinTokens { get; set; }

    /// <summary>
    /// Key of this provider's rows in <c>model_prices</c>. Default: the kind in lower case (<c>openai</c>,
    /// <c>anthropic</c>, <c>simulated</c>), so an OpenAI-kind provider is costed with OpenAI's rows (right for Azure
    /// deployments named after the model). Give self-hosted or resold endpoints their own key and rows; a model
    /// without a row is costed <c>unknown</c>, never $0.
    /// </summary>
    [MaxLength(64)]
    public string? PriceKey { get; set; }

    /// <summary>Models this provider offers (informational, for model lists). Default: none; Simulated lists its four.</summary>
    public List<string> Models { get; set; } = [];

    /// <summary>Simulated kind: speed and fault knobs.</summary>
    public SimulatedOptions Simulated { get; set; } = new();
}
