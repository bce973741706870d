using System.Globalization;
using System.Text.RegularExpressions;

namespace Keystone.Gateway.Providers.Simulated;

/// <summary>
/// Per-request knobs written into the last user message, e.g. <c>[sim:fail=429]</c>, <c>[sim:fail=500]</c>,
/// <c>[sim:fail=timeout]</c>, <c>[sim:cut=5]</c>, <c>[sim:slow=2000]</c> (time to first token, ms),
/// <c>[sim:tps=20]</c>, <c>[sim:drift=1]</c>, <c>[sim:fail=none]</c>. They override the provider's configuration.
/// </summary>
internal static partial class SimulatedMarkers
{
    [GeneratedRegex(@"\[sim:(?<key>[a-z]+)(?:=(?<value>[A-Za-z0-9_.]+))?\]", RegexOptions.CultureInvariant)]
    private static partial Regex Marker();

    /// <summary>A tool call the last user message asks for (<c>[sim:tool=NAME]</c>, <c>[sim:toolloop=NAME]</c>, <c>[sim:badargs]</c>); null when none.</summary>
    public static (string Name, bool EveryTurn, bool BadArguments)? ForcedTool(IReadOnlyList<ChatMessage> messages)
    {
        var last = messages.LastOrDefault(m => m.Role == "user")?.Content;
        if (last is null || !last.Contains("[sim:tool", StringComparison.Ordinal))
        {
            return null;
        }

        (string Name, bool EveryTurn, bool BadArguments)? forced = null;
        var bad = last.Contains("[sim:badargs]", StringComparison.Ordinal);
        foreach (Match m in Marker().Matches(last))
        {
            var key = m.Groups["key"].Value;
            if (key is "tool" or "toolloop" && m.Groups["value"].Value is { Length: > 0 } name)
            {
                forced = (name, key == "toolloop", bad);
            }
        }

        return forced;
    }

    /// <summary>The effective knobs: configuration, then each marker of the last user message in order.</summary>
    public static SimulatedOptions Apply(SimulatedOptions configured, IReadOnlyList<ChatMessage> messages)
    {
        var last = messages.LastOrDefault(m => m.Role == "user")?.Content;
        if (last is null || !last.Contains("[sim:", StringComparison.Ordinal))
        {
            return configured;
        }

        var o = new SimulatedOptions
        {
            TimeToFirstTokenMs = configured.TimeToFirstTokenMs,
            TokensPerSecond = configured.TokensPerSecond,
            Fault = configured.Fault,
            FaultPercent = configured.FaultPercent,
            CutAfterTokens = configured.CutAfterTokens,
            RetryAfterSeconds = configured.RetryAfterSeconds,
            Drift = configured.Drift,
            PromptCacheMinTokens = configured.PromptCacheMinTokens,
            OutageFromUtc = configured.OutageFromUtc,
            OutageUntilUtc = configured.OutageUntilUtc,
            OutageStatus = configured.OutageStatus,
        };
        foreach (Match m in Marker().Matches(last))
        {
            var value = m.Groups["value"].Value;
            var number = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : (int?)null;
            switch (m.Groups["key"].Value)
            {
                case "fail":
                    o.Fault = value switch
                    {
                        "429" or "rate" or "ratelimit" => SimulatedFault.RateLimit,
                        "500" or "error" => SimulatedFault.ServerError,
                        "timeout" => SimulatedFault.Timeout,
                        "none" => SimulatedFault.None,
                        _ => o.Fault,
                    };
                    o.FaultPercent = 100;
                    break;
                case "timeout":
                    o.Fault = SimulatedFault.Timeout;
                    o.FaultPercent = 100;
                    break;
                case "cut" when number is not null:
                    o.Fault = SimulatedFault.Cut;
                    o.FaultPercent = 100;
                    o.CutAfterTokens = number.Value;
                    break;
                case "slow" when number is not null:
                    o.TimeToFirstTokenMs = number.Value;
                    break;
                case "tps" when number is not null:
                    o.TokensPerSecond = number.Value;
                    break;
                case "drift" when number is not null:
                    o.Drift = number.Value;
                    break;
                case "retry" when number is not null:
                    o.RetryAfterSeconds = number.Value;
                    break;
                default:
                    break;
            }
        }

        return o;
    }
}
