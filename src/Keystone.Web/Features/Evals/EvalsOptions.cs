using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Evals;

/// <summary>Eval runs (section <c>Evals</c>).</summary>
internal sealed class EvalsOptions
{
    public const string SectionName = "Evals";

    /// <summary>Examples of one run answered and scored at the same time (each is one or more gateway calls). Default 4.</summary>
    [Range(1, 32)]
    public int RunConcurrency { get; set; } = 4;

    /// <summary>
    /// A running run that writes no result for this long is failed by the watchdog, with that reason; a queued run no
    /// worker picks up for this long likewise. Longer than the slowest example (answer plus judge calls). Default 10.
    /// </summary>
    [Range(1, 1440)]
    public int StallMinutes { get; set; } = 10;

    /// <summary>
    /// Slug of the tenant a global prompt's eval runs are attributed to (its caps, usage and margin): the platform's own
    /// tenant. Empty: the first tenant by name, as prompt test runs do (docs/decisions/0040-eval-runs.md). Default empty.
    /// </summary>
    [MaxLength(64)]
    public string? PlatformTenant { get; set; }

    /// <summary>How often the run page reads a running run's progress, in seconds. Default 1.</summary>
    [Range(1, 60)]
    public int PageRefreshSeconds { get; set; } = 1;

    /// <summary>Largest set one run takes (examples). Default 5,000 (the largest JSONL import).</summary>
    [Range(1, 50_000)]
    public int MaxExamplesPerRun { get; set; } = EvalSetStore.MaxImportLines;

    /// <summary>
    /// The activation gate blocks a version whose score is more than this many points (0-100 scale) below the active
    /// version's on the same set (docs/decisions/0041-eval-activation-gate.md). Default 5.
    /// </summary>
    [Range(0.0, 100.0)]
    public double GateTolerancePoints { get; set; } = 5;

    /// <summary>A done run of the same set, version and alias that finished within this many hours is reused by the gate instead of a new run. Default 24.</summary>
    [Range(1, 720)]
    public int GateFreshHours { get; set; } = 24;

    /// <summary>
    /// The eval sampler re-reads calls ingested this many seconds before its watermark, so a recorder batch that committed
    /// after a later one is still sampled (a call is queued once whatever it reads twice). Default 120.
    /// </summary>
    [Range(0, 3600)]
    public int SamplerOverlapSeconds { get; set; } = 120;

    /// <summary>How often the review queue page re-reads its count and list, in seconds. Default 5.</summary>
    [Range(1, 300)]
    public int ReviewRefreshSeconds { get; set; } = 5;

    /// <summary>
    /// The nightly schedule runs a set as a provider batch (decision 0049) when the alias's provider has a batch
    /// interface and the price table gives its model a batch discount: the same scores for about half the price, the
    /// answers within the provider's window instead of at once. False runs every nightly set live. Default true.
    /// </summary>
    public bool NightlyBatch { get; set; } = true;

    /// <summary>The watchdog's period.</summary>
    public TimeSpan StallTimeout => TimeSpan.FromMinutes(StallMinutes);
}
