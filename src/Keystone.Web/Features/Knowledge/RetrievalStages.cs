using System.Diagnostics;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// Where one retrieval's time went, stage by stage (the knowledge benchmark's breakdown, docs/benchmarks.md; the product
/// passes none and pays nothing for it). The text half runs beside the embedding and the vector half, so the stages
/// do not add up to the whole: <see cref="TotalMs"/> is the retrieval's own clock.
/// </summary>
internal sealed class RetrievalStages
{
    /// <summary>The stages of the retrieval running on this async flow (the word-count step reports into it).</summary>
    private static readonly AsyncLocal<RetrievalStages?> CurrentFlow = new();

    public static RetrievalStages? Current => CurrentFlow.Value;

    /// <summary>The question's embedding through the gateway (alias, budget reservation, the model, settlement and recording).</summary>
    public double EmbedMs { get; set; }

    /// <summary>Choosing the text half's words: the tenant's word statistics (cached; counted when cold).</summary>
    public double WordsMs { get; set; }

    /// <summary>The text half as a whole, its word choice included.</summary>
    public double TextMs { get; set; }

    public double VectorMs { get; set; }

    /// <summary>How long the text half kept the retrieval waiting after the embedding and the vector half were done.</summary>
    public double TextWaitMs { get; set; }

    public double FuseMs { get; set; }

    public double FetchMs { get; set; }

    public double TotalMs { get; set; }

    /// <summary>Makes <paramref name="stages"/> the current flow's until the returned scope is disposed.</summary>
    internal static Scope Enter(RetrievalStages? stages)
    {
        var previous = CurrentFlow.Value;
        CurrentFlow.Value = stages;
        return new Scope(previous);
    }

    internal static double Since(long start) => Stopwatch.GetElapsedTime(start).TotalMilliseconds;

    internal readonly struct Scope(RetrievalStages? previous) : IDisposable
    {
        public void Dispose() => CurrentFlow.Value = previous;
    }
}
