namespace Keystone.Gateway.Providers;

/// <summary>The wire format a configured provider speaks (<c>Gateway:Providers:&lt;name&gt;:Kind</c>).</summary>
public enum ProviderKind
{
    /// <summary>OpenAI Chat Completions and Embeddings, and every OpenAI-compatible endpoint.</summary>
    OpenAI,

    /// <summary>Anthropic Messages.</summary>
    Anthropic,

    /// <summary>The built-in offline provider (deterministic answers, real token counts, configurable faults).</summary>
    Simulated,

    /// <summary>
    /// An embedding model run in this process (<see cref="Local.LocalEmbeddingModel"/>, ONNX on the CPU): offline, free,
    /// embeddings only.
    /// </summary>
    Local,
}
