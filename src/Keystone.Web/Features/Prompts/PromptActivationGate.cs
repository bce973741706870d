using System.Diagnostics.CodeAnalysis;

namespace Keystone.Web.Features.Prompts;

/// <summary>
/// The check that stands between "activate" and production (issue 23, activation gate). Declared here and implemented
/// by the evals feature (<c>EvalActivationGate</c>), so the prompt page reaches the gate while Prompts still does not
/// depend on Evals (docs/decisions/0041-eval-activation-gate.md).
/// </summary>
internal interface IPromptActivationGate
{
    /// <summary>
    /// Measures <paramref name="version"/> against the version active in the scope (global, or the tenant's override) on
    /// the prompt's eval set: reuses a fresh done run, follows one in progress, or (with <paramref name="startRuns"/>)
    /// starts the runs that are missing. Never activates anything.
    /// </summary>
    Task<ActivationGateCheck> CheckAsync(string promptName, int version, Guid? tenantId, bool startRuns, CancellationToken ct);

    /// <summary>
    /// Activates the version when the gate allows it; when it blocks (or the runs are not finished), only with a written
    /// <paramref name="overrideReason"/>, audited with both scores. Throws <see cref="PromptException"/> when it blocks and
    /// no reason is given, <see cref="UnauthorizedAccessException"/> for a caller who is not a prompt editor.
    /// </summary>
    Task<ActivationGateCheck> ActivateAsync(string promptName, int version, Guid? tenantId, string? overrideReason, CancellationToken ct);
}

/// <summary>What the gate concluded.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (ActivationGatePanel.Check): Razor components are public and Blazor parameters must be public properties.")]
public enum ActivationGateVerdict
{
    /// <summary>The prompt has no eval set (or an empty one) for this scope: nothing to gate on; activation is allowed and says so.</summary>
    NoSet,

    /// <summary>Nothing is active in the scope (or the version is already active): no score to fall below; allowed with that note.</summary>
    NothingToCompare,

    /// <summary>A run is queued or running (or not started yet): activation waits, or needs a written override.</summary>
    Pending,

    /// <summary>A run failed or was cancelled, so there is no score to compare: check again, or override with a reason.</summary>
    Unavailable,

    /// <summary>Both scores are in and the new version is within the tolerance.</summary>
    Allowed,

    /// <summary>The new version scores more than the tolerance below the active one.</summary>
    Blocked,
}

/// <summary>One version's eval run as the gate shows it. Scores are points 0-100, cost is micro-USD per example.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (ActivationGatePanel.Check): Razor components are public and Blazor parameters must be public properties.")]
public sealed record ActivationGateSide(
    int Version, string Alias, Guid? RunId, string Status, bool Done, double? ScorePoints, double? PassRate, long? CostPerExampleMicros,
    int Completed, int Total, DateTime? FinishedUtc, string? Problem)
{
    /// <summary>Share of examples answered (0..1).</summary>
    public double Progress => Total == 0 ? 0 : (double)Completed / Total;
}

/// <summary>The gate's answer: its verdict in plain words, the set it used, the tolerance, and both sides.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (ActivationGatePanel.Check): Razor components are public and Blazor parameters must be public properties.")]
public sealed record ActivationGateCheck(
    ActivationGateVerdict Verdict, string Message, string? SetName, double TolerancePoints, ActivationGateSide? Candidate, ActivationGateSide? Active)
{
    /// <summary>Activation without a reason is allowed.</summary>
    public bool Passes => Verdict is ActivationGateVerdict.NoSet or ActivationGateVerdict.NothingToCompare or ActivationGateVerdict.Allowed;
}
