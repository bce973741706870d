using System.ComponentModel.DataAnnotations;

namespace Keystone.Gateway.Providers.Simulated;

/// <summary>
/// Knobs of the simulated provider (<c>Gateway:Providers:&lt;name&gt;:Simulated</c>). Every knob can also be set per
/// request with a marker in the last user message (see <c>docs/providers.md</c>).
/// </summary>
public sealed class SimulatedOptions
{
    /// <summary>Time to first token in milliseconds. Default 120.</summary>
    [Range(0, 600_000)]
    public int TimeToFirstTokenMs { get; set; } = 120;

    /// <summary>Output speed after the first token; 0 means instant. Default 200.</summary>
    [Range(0, 100_000)]
    public int TokensPerSecond { get; set; } = 200;

    /// <summary>Fault to inject: <c>None</c>, <c>RateLimit</c> (429 with Retry-After), <c>ServerError</c> (500), <c>Timeout</c>, <c>Cut</c> (stream cut). Default None.</summary>
    public SimulatedFault Fault { get; set; } = SimulatedFault.None;

    /// <summary>Share of requests (0–100, chosen deterministically from the request) that get <see cref="Fault"/>. Default 100.</summary>
    [Range(0, 100)]
    public int FaultPercent { get; set; } = 100;

    /// <summary>For <see cref="SimulatedFault.Cut"/>: output tokens sent before the stream breaks. Default 5.</summary>
    [Range(0, 100_000)]
    public int CutAfterTokens { get; set; } = 5;

    /// <summary>For <see cref="SimulatedFault.RateLimit"/>: the Retry-After it reports, in seconds. Default 2.</summary>
    [Range(0, 3600)]
    public int RetryAfterSeconds { get; set; } = 2;

    /// <summary>Answer drift: 0 answers as always; any other value changes every answer (model-update simulation). Default 0.</summary>
    [Range(0, 1_000_000)]
    public int Drift { get; set; }

    /// <summary>
    /// Start of an outage (UTC, by the gateway's clock): from here until <see cref="OutageUntilUtc"/> every chat and
    /// embedding request fails with <see cref="OutageStatus"/>, whatever it says. The demo history uses it so its
    /// failures come from the provider side, as real ones do, and replay later on a healthy model. Default none.
    /// </summary>
    public DateTime? OutageFromUtc { get; set; }

    /// <summary>End of the outage (UTC, exclusive). Default none.</summary>
    public DateTime? OutageUntilUtc { get; set; }

    /// <summary>HTTP status the provider answers during the outage: 503 (unavailable), 500, 429 or 408 (timeout). Default 503.</summary>
    [AllowedValues(408, 429, 500, 502, 503, 504)]
    public int OutageStatus { get; set; } = 503;

    /// <summary>
    /// Batch mode (docs/decisions/0049-eval-batch-mode.md): seconds from a batch's submission until it is completed, its
    /// answers the ones the live mode gives. Default 5 (a real provider takes up to 24 h).
    /// </summary>
    [Range(0, 86_400)]
    public int BatchSeconds { get; set; } = 5;

    /// <summary>Prefix length (tokens) from which a repeated prefix is reported as cached input, like OpenAI. Default 1024.</summary>
    [Range(1, 1_000_000)]
    public int PromptCacheMinTokens { get; set; } = 1024;
}
