using Keystone.Gateway.Providers;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Tests.Providers;

public sealed class ProviderRegistryTests
{
    [Fact]
    public async Task Build_NothingConfigured_HasTheSimulatedProviderWithItsFourModelsAndTheLocalEmbeddingModel()
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?>());

        Assert.Equal(["local", "sim"], host.Registry.All.Select(p => p.Name).Order());
        var registered = host.Registry.Find("sim")!;
        var local = host.Registry.Find("local")!;

        Assert.Equal(ProviderKind.Local, local.Kind);
        Assert.Equal("local", host.Registry.PriceKeyOf("local"));
        Assert.Equal(["all-MiniLM-L6-v2"], local.Options.Models);
        Assert.Equal("sim", registered.Name);
        Assert.Equal(ProviderKind.Simulated, registered.Kind);
        Assert.Equal("simulated", host.Registry.PriceKeyOf("sim"));
        Assert.Equal(["sim-fast", "sim-smart", "sim-reasoning", "sim-embed"], registered.Options.Models);
        var answer = await host.Provider("SIM").CompleteAsync(ProviderTestHost.For("sim-fast", ProviderTestHost.Chat(new ChatMessage("user", "[sim:slow=0] hi"))),
            CancellationToken.None);
        Assert.NotEmpty(answer.Text);
    }

    [Fact]
    public async Task Build_OpenAiAndAnthropicConfigured_KeepsSimAndUsesKindPriceKeys()
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:openai:Kind"] = "OpenAI",
            ["Gateway:Providers:claude:Kind"] = "anthropic",
            ["Gateway:Providers:ollama:Kind"] = "OpenAI",
            ["Gateway:Providers:ollama:BaseUrl"] = "http://localhost:11434/v1/",
            ["Gateway:Providers:ollama:PriceKey"] = "ollama",
        });

        Assert.Equal(["claude", "local", "ollama", "openai", "sim"], host.Registry.All.Select(p => p.Name).Order());
        Assert.Equal("openai", host.Registry.PriceKeyOf("openai"));
        Assert.Equal("anthropic", host.Registry.PriceKeyOf("claude"));
        Assert.Equal("ollama", host.Registry.PriceKeyOf("ollama"));
        Assert.Null(host.Registry.Find("nope"));
        Assert.Contains("Gateway:Providers:nope", Assert.Throws<KeyNotFoundException>(() => host.Registry.Get("nope")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_KindTypo_FailsWithAMessageNamingTheSetting()
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?> { ["Gateway:Providers:openai:Kind"] = "OpenAl" });

        var ex = Assert.Throws<OptionsValidationException>(() => host.Get<IOptions<GatewayProvidersOptions>>().Value);

        Assert.Contains("Gateway:Providers:openai:Kind 'OpenAl'", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("BaseUrl", "not a url", "Gateway:Providers:p:BaseUrl")]
    [InlineData("TimeoutSeconds", "0", "Gateway:Providers:p:TimeoutSeconds")]
    [InlineData("MaxTokensParameter", "max_output", "Gateway:Providers:p:MaxTokensParameter")]
    [InlineData("Simulated:FaultPercent", "150", "Gateway:Providers:p:Simulated:FaultPercent")]
    public async Task Build_InvalidSetting_FailsNamingTheSetting(string key, string value, string named)
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:p:Kind"] = "OpenAI",
            ["Gateway:Providers:p:" + key] = value,
        });

        var ex = Assert.Throws<OptionsValidationException>(() => host.Get<IOptions<GatewayProvidersOptions>>().Value);

        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_MissingKind_FailsNamingTheSetting()
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?> { ["Gateway:Providers:x:BaseUrl"] = "http://localhost/" });

        var ex = Assert.Throws<OptionsValidationException>(() => host.Get<IOptions<GatewayProvidersOptions>>().Value);

        Assert.Contains("Gateway:Providers:x:Kind is required", ex.Message, StringComparison.Ordinal);
    }
}
