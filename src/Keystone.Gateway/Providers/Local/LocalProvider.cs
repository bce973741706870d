using System.Runtime.CompilerServices;

namespace Keystone.Gateway.Providers.Local;

/// <summary>
/// The <see cref="ProviderKind.Local"/> provider: embeddings from <see cref="LocalEmbeddingModel"/>, computed in this
/// process (no network, no key, no bill). It makes embeddings only: a chat call is refused with an error that says so
/// (start-up also refuses an alias that mixes it with chat providers).
/// </summary>
internal sealed class LocalProvider(string name) : IModelProvider
{
    public string Name => name;

    public Task<ProviderChatResponse> CompleteAsync(ProviderChatRequest request, CancellationToken ct) => throw ChatRefused(request.Model);

    public async IAsyncEnumerable<ProviderStreamEvent> StreamAsync(ProviderChatRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        // Refused on the first read, where the chain reads every provider's failures.
        await Task.CompletedTask;
        throw ChatRefused(request.Model);
#pragma warning disable CS0162 // An iterator needs a yield to be one.
        yield break;
#pragma warning restore CS0162
    }

    public async Task<ProviderEmbeddingResponse> EmbedAsync(string model, IReadOnlyList<string> inputs, int? dimensions,
        ProviderCredentials? credentials, CancellationToken ct)
    {
        if (!LocalEmbeddingModel.IsKnown(model))
        {
            throw new ProviderException($"{name}: '{model}' is not a local model; the Local provider runs {LocalEmbeddingModel.Name}.", 400,
                isRetryable: false);
        }

        if (dimensions is { } d && d != LocalEmbeddingModel.Dimensions)
        {
            throw new ProviderException(
                $"{name}: {LocalEmbeddingModel.Name} gives {LocalEmbeddingModel.Dimensions} dimensions; dimensions={d} cannot be served.", 400,
                isRetryable: false);
        }

        // CPU-bound for milliseconds to seconds (a batch): off the caller's thread, so a request thread or the first
        // load (about 0.2 s) does not hold up the caller's other async work.
        var (vectors, tokens) = await Task.Run(() => LocalEmbeddingModel.Embed(inputs, ct), ct);
        return new ProviderEmbeddingResponse(vectors, new Usage(tokens, 0), LocalEmbeddingModel.Name);
    }

    private ProviderException ChatRefused(string model) => new(
        $"{name}/{model} is a Local provider: it only makes embeddings (use it in an embedding alias such as 'embed', not for chat).", 400,
        isRetryable: false);
}
