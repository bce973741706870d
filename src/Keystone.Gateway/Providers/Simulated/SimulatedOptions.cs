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

    /// <summary>Prefix length (tokens) from which a repeated prefix is reported as cached input, like OpenAI. Default 1024.</summary>
    [Range(1, 1_000_000)]
    public int PromptCacheMinTokens { get; set; } = 1024;
}

/// <summary>Faults the simulated provider can inject.</summary>
public enum SimulatedFault
{
    None,

    /// <summary>HTTP 429 with a Retry-After.</summary>
    RateLimit,

    /// <summary>HTTP 500.</summary>
    ServerError,

    /// <summary>No answer until the provider's timeout.</summary>
    Timeout,

    /// <summary>The stream breaks after <see cref="SimulatedOptions.CutAfterTokens"/> tokens (a complete call fails the same way).</summary>
    Cut,
}
