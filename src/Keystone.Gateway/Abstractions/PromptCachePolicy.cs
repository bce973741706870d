using Keystone.Gateway.Providers;
using Keystone.Gateway.Providers.Anthropic;

namespace Keystone.Gateway;

/// <summary>How a provider reuses a repeated prompt prefix.</summary>
public enum PromptCacheMechanism
{
    /// <summary>The provider caches nothing the gateway knows of.</summary>
    None,

    /// <summary>Any repeated prefix of the whole prompt from the minimum length on (OpenAI, the simulated provider).</summary>
    AutomaticPrefix,

    /// <summary>
    /// The gateway puts one <c>cache_control</c> breakpoint at the end of the static prefix (tools, then the system
    /// prompt) when that prefix reaches the minimum (Anthropic): the user message is never cached.
    /// </summary>
    SystemBreakpoint,
}

/// <summary>A provider model's prompt caching, as the gateway drives it.</summary>
/// <param name="Mechanism">How a prefix is reused.</param>
/// <param name="MinimumTokens">Shortest prefix the provider caches (tokens); 0 with <see cref="PromptCacheMechanism.None"/>.</param>
public sealed record PromptCaching(PromptCacheMechanism Mechanism, int MinimumTokens)
{
    /// <summary>No prompt caching.</summary>
    public static readonly PromptCaching None = new(PromptCacheMechanism.None, 0);
}

/// <summary>
/// What the gateway's provider adapters do with a repeated prompt prefix, for tools that advise on prompt layout (the
/// prompt workbench's cache advisor) without reaching into the adapters.
/// </summary>
public interface IPromptCachePolicy
{
    /// <summary>The caching of <paramref name="model"/> on the configured provider <paramref name="provider"/>; <see cref="PromptCaching.None"/> when unknown.</summary>
    PromptCaching Describe(string provider, string model);
}

/// <summary>
/// <see cref="IPromptCachePolicy"/> from the configured providers: OpenAI-kind caches any prefix of 1,024 tokens or more
/// automatically; Anthropic-kind caches the system prefix from the model's documented minimum (or
/// <c>PromptCacheMinTokens</c> when configured), the same numbers its request writer uses; the simulated provider from
/// its <c>Simulated:PromptCacheMinTokens</c>.
/// </summary>
public sealed class ProviderPromptCachePolicy(ProviderRegistry registry) : IPromptCachePolicy
{
    /// <summary>OpenAI's documented minimum for automatic prompt caching (tokens).</summary>
    public const int OpenAiMinimumTokens = 1024;

    /// <inheritdoc />
    public PromptCaching Describe(string provider, string model)
    {
        if (registry.Find(provider) is not { } p)
        {
            return PromptCaching.None;
        }

        return p.Kind switch
        {
            ProviderKind.OpenAI => new PromptCaching(PromptCacheMechanism.AutomaticPrefix, OpenAiMinimumTokens),
            ProviderKind.Anthropic => new PromptCaching(PromptCacheMechanism.SystemBreakpoint,
                p.Options.PromptCacheMinTokens ?? AnthropicRequestWriter.MinimumCacheableTokens(model)),
            _ => new PromptCaching(PromptCacheMechanism.AutomaticPrefix, p.Options.Simulated.PromptCacheMinTokens),
        };
    }
}
