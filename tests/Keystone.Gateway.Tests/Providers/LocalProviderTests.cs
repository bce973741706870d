using System.Numerics.Tensors;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Providers;
using Keystone.Gateway.Providers.Local;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Tests.Providers;

/// <summary>
/// The Local provider with the real all-MiniLM-L6-v2 model (loaded once for this whole test process): meaning, shape,
/// order, concurrency, and what it refuses.
/// </summary>
public sealed class LocalProviderTests
{
    private static readonly LocalProvider Local = new("local");

    private static async Task<float[][]> EmbedAsync(params string[] texts)
        => [.. (await Local.EmbedAsync(LocalEmbeddingModel.Name, texts, null, null, CancellationToken.None)).Vectors];

    [Fact]
    public async Task Embed_Paraphrase_IsCloseAndAnUnrelatedQuestionIsFar()
    {
        var v = await EmbedAsync("How do I reset my password?", "How can I reset my password?", "What is the capital of France?");

        Assert.All(v, x => Assert.Equal(LocalEmbeddingModel.Dimensions, x.Length));
        Assert.All(v, x => Assert.Equal(1, TensorPrimitives.Norm(x), tolerance: 1e-4));
        Assert.True(TensorPrimitives.Dot(v[0], v[1]) > 0.95, $"paraphrase {TensorPrimitives.Dot(v[0], v[1])}");
        Assert.True(TensorPrimitives.Dot(v[0], v[2]) < 0.3, $"unrelated {TensorPrimitives.Dot(v[0], v[2])}");
    }

    [Fact]
    public async Task Embed_MoreInputsThanOneRun_KeepsInputOrderAndCountsTheModelsTokens()
    {
        var texts = Enumerable.Range(0, LocalEmbeddingModel.RunSize + 7).Select(i => $"Order {i}: where is parcel number {i * 7919}?").ToArray();
        texts[3] = "";

        var batch = await Local.EmbedAsync("ALL-MINILM-L6-V2", texts, LocalEmbeddingModel.Dimensions, null, CancellationToken.None);
        var last = await EmbedAsync(texts[^1]);

        Assert.Equal(texts.Length, batch.Vectors.Count);
        // Padding to the run's longest input does not change a vector (the attention mask hides it).
        Assert.Equal(1, TensorPrimitives.Dot(batch.Vectors[^1], last[0]), tolerance: 1e-4);
        Assert.True(TensorPrimitives.Dot(batch.Vectors[0], batch.Vectors[1]) < 0.999);
        // Word pieces with [CLS] and [SEP]: more than one per input, and the blank input counts only its two markers.
        Assert.InRange(batch.Usage.InputTokens, texts.Length * 3, texts.Length * 40);
        Assert.Equal(LocalEmbeddingModel.Name, batch.ProviderModel);
    }

    [Fact]
    public async Task Embed_TextLongerThanTheModelReadsAtOnce_IsEmbeddedWholeSoItsTailAloneCarriesTheMeaning()
    {
        // About 800 word pieces about a river first (more than the 512 the model reads in one pass), then a paragraph
        // about the vault code: before windowing, the model never saw the tail and the text's vector was the river's.
        var river = string.Join(' ', Enumerable.Repeat("The river flows slowly past the old mill while ducks swim among the green reeds near the bank.", 45));
        var vault = "The vault access code is changed every Tuesday morning by the security team. Staff receive the new vault code "
            + "by encrypted message before nine, and the old vault code stops working at noon. Anyone who loses the vault code "
            + "asks the security desk, never a colleague, for the current vault access code.";
        var text = river + " " + vault;
        var windows = LocalEmbeddingModel.Windows(text).ToList();

        var v = await EmbedAsync(text, river, "How often is the vault access code changed?");
        var usage = (await Local.EmbedAsync(LocalEmbeddingModel.Name, [text], null, null, CancellationToken.None)).Usage;

        // The text is past what one pass reads (the tokenizer stops at the limit) and was split into parts that each fit.
        Assert.Equal(LocalEmbeddingModel.MaxInputTokens, LocalEmbeddingModel.WordPieces(text));
        Assert.InRange(windows.Count, 2, 4);
        Assert.All(windows, w => Assert.True(LocalEmbeddingModel.WordPieces(w) < LocalEmbeddingModel.MaxInputTokens));
        Assert.Contains(windows, w => w.EndsWith("vault access code.", StringComparison.Ordinal));
        Assert.Equal(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length, windows.Sum(w => w.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length));
        // Every part was read: the usage counts more word pieces than one pass holds.
        Assert.True(usage.InputTokens > LocalEmbeddingModel.MaxInputTokens, $"tokens {usage.InputTokens}");
        Assert.Equal(1, TensorPrimitives.Norm(v[0]), tolerance: 1e-4);
        // The question about the tail is closer to the whole text than to the river alone (what a cut text looked like).
        var whole = TensorPrimitives.Dot(v[0], v[2]);
        var riverOnly = TensorPrimitives.Dot(v[1], v[2]);
        Assert.True(whole > riverOnly + 0.1, $"whole text {whole:0.000}, river alone {riverOnly:0.000}");
    }

    [Fact]
    public async Task Embed_ConcurrentCallers_GetTheSameVectorsAsOneAtATimeFromOneLoadedModel()
    {
        var texts = Enumerable.Range(0, 16).Select(i => $"Question {i}: can I change my plan in month {i}?").ToArray();
        var alone = await EmbedAsync(texts);

        var together = await Task.WhenAll(texts.Select(t => Task.Run(() => EmbedAsync(t))));

        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(1, TensorPrimitives.Dot(alone[i], together[i][0]), tolerance: 1e-4);
        }

        Assert.True(LocalEmbeddingModel.IsLoaded);
        Assert.Equal(1, LocalEmbeddingModel.Loads);
    }

    [Fact]
    public async Task Chat_IsRefusedSayingTheProviderOnlyMakesEmbeddings()
    {
        var request = ProviderTestHost.For(LocalEmbeddingModel.Name, ProviderTestHost.Chat(new ChatMessage("user", "hi")));

        var complete = await Assert.ThrowsAsync<ProviderException>(() => Local.CompleteAsync(request, CancellationToken.None));
        var stream = await Assert.ThrowsAsync<ProviderException>(() => ProviderTestHost.DrainAsync(Local.StreamAsync(request, CancellationToken.None)));

        foreach (var ex in new[] { complete, stream })
        {
            Assert.False(ex.IsRetryable);
            Assert.Equal(400, ex.StatusCode);
            Assert.Contains("only makes embeddings", ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("all-MiniLM-L12-v2", null, "is not a local model")]
    [InlineData(LocalEmbeddingModel.Name, 8, "dimensions=8 cannot be served")]
    public async Task Embed_UnknownModelOrOtherDimensions_IsRefusedAsTheCallersError(string model, int? dimensions, string message)
    {
        var ex = await Assert.ThrowsAsync<ProviderException>(() => Local.EmbedAsync(model, ["x"], dimensions, null, CancellationToken.None));

        Assert.False(ex.IsRetryable);
        Assert.Equal(400, ex.StatusCode);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Gateway:Providers:mine:Kind", "Local", "Gateway:Providers:mine:BaseUrl", "http://localhost:11434/v1/", "Gateway:Providers:mine: a Local provider")]
    [InlineData("Gateway:Providers:mine:Kind", "Local", "Gateway:Providers:mine:Models:0", "bge-small", "Gateway:Providers:mine:Models: 'bge-small'")]
    [InlineData("Gateway:Aliases:embed:0", "local/all-MiniLM-L12-v2", "Gateway:Aliases:embed:1", "local/all-MiniLM-L6-v2", "Gateway:Aliases:embed: 'local/all-MiniLM-L12-v2'")]
    [InlineData("Gateway:Aliases:fast:0", "sim/sim-fast", "Gateway:Aliases:fast:1", "local/all-MiniLM-L6-v2", "Gateway:Aliases:fast: mixes the Local provider")]
    public void Options_LocalProviderMisconfigured_FailsStartNamingTheSetting(string key1, string value1, string key2, string value2, string named)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key1] = value1, [key2] = value2 }).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);
        services.AddKeystoneGateway(configuration);
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() =>
        {
            _ = provider.GetRequiredService<IOptions<GatewayProvidersOptions>>().Value;
            _ = provider.GetRequiredService<IOptions<GatewayOptions>>().Value;
        });

        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }
}
