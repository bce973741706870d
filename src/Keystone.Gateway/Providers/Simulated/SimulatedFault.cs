namespace Keystone.Gateway.Providers.Simulated;

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
