using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Agents;

/// <summary>Agent runs: heartbeats, the janitor, retries and limits (<c>Agents:*</c>).</summary>
internal sealed class AgentsOptions : IValidatableObject
{
    public const string SectionName = "Agents";

    /// <summary>How often a worker writes its heartbeat on the run it holds, seconds. Default 10.</summary>
    [Range(1, 3600)] public int HeartbeatSeconds { get; set; } = 10;

    /// <summary>A run whose heartbeat is older than this many seconds has lost its worker; the janitor resumes it. Default 60.</summary>
    [Range(2, 86_400)] public int HeartbeatTimeoutSeconds { get; set; } = 60;

    /// <summary>The janitor's schedule (cron, UTC). Default every minute.</summary>
    [Required, MinLength(9)] public string JanitorCron { get; set; } = "* * * * *";

    /// <summary>Failed tool calls a run may hand back to the model before it stops. Default 3.</summary>
    [Range(0, 50)] public int MaxToolErrors { get; set; } = 3;

    /// <summary>Output tokens each model step may use (the step's budget reservation is made for this). Default 1024.</summary>
    [Range(16, 32_000)] public int StepMaxTokens { get; set; } = 1024;

    /// <summary>How long a pending action waits for a decision before it expires, minutes. Default 1440 (a day).</summary>
    [Range(1, 43_200)] public int ApprovalExpiryMinutes { get; set; } = 1440;

    /// <summary>
    /// How often an open view of a run (the playground's agent mode, the agents page's runs) reads the run again when no
    /// notice arrived, seconds: a safety net, since every change sends one (decision 52). In PostgreSQL mode without
    /// <c>Approvals:ListenAcrossInstances</c> other instances' changes send none here, so views read at most every 2 s
    /// there. Default 15.
    /// </summary>
    [Range(1, 3600)] public int LiveSafetyPollSeconds { get; set; } = 15;

    /// <summary>
    /// The platform's most autonomous level per tool (1–5), where it differs from the built-in rule (L3 for destructive,
    /// external and spending tools, L5 for the others). Empty by default.
    /// </summary>
    public Dictionary<string, int> ToolMaxLevels { get; set; } = new(StringComparer.Ordinal);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (HeartbeatTimeoutSeconds <= HeartbeatSeconds)
        {
            yield return new ValidationResult("Agents:HeartbeatTimeoutSeconds must be longer than Agents:HeartbeatSeconds.",
                [nameof(HeartbeatTimeoutSeconds)]);
        }

        foreach (var (tool, level) in ToolMaxLevels)
        {
            if (level is < 1 or > 5)
            {
                yield return new ValidationResult($"Agents:ToolMaxLevels:{tool} must be a level from 1 to 5.", [nameof(ToolMaxLevels)]);
            }
        }
    }
}
