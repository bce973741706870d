using System.Diagnostics.CodeAnalysis;
using Keystone.Data.Evals;

namespace Keystone.Web.Features.Evals;

/// <summary>One example whose score changed between the baseline run and the drifted run (scores 0..1).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Reached from a [Parameter] (EvalTrendChart.Trend): Razor components are public and Blazor parameters must be public properties.")]
public sealed record EvalDriftExample(Guid ExampleId, double Before, double After, bool PassedBefore, bool PassedAfter);

/// <summary>A drift alert as shown: the evidence, the scope's name and what was done about it.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Reached from a [Parameter] (EvalTrendChart.Trend): Razor components are public and Blazor parameters must be public properties.")]
public sealed record EvalDriftAlertView(
    Guid Id, Guid? TenantId, string Scope, string PromptName, int? VersionNumber, string Alias, string? Model, Guid SetId, string SetName,
    Guid BaselineRunId, Guid RunId, double BaselineScorePoints, double ScorePoints, double TolerancePoints,
    IReadOnlyList<EvalDriftExample> ChangedExamples, EvalDriftStatus Status, string? HandledBy, DateTime? HandledUtc, int? RolledBackToVersion,
    DateTime CreatedUtc)
{
    /// <summary>The feature label of a feature's set's alert (its <see cref="PromptName"/> is the set's name); null for a prompt's alert.</summary>
    public string? Feature => PromptName.StartsWith(EvalSet.FeaturePrefix, StringComparison.Ordinal) ? PromptName[EvalSet.FeaturePrefix.Length..] : null;

    /// <summary>What drifted, in words: <c>support-reply v2</c>, or <c>feature checkout on fast</c>.</summary>
    public string Subject => Feature is { } f ? $"feature {f} on {Alias}" : $"{PromptName} v{VersionNumber}";

    /// <summary>Points below the baseline.</summary>
    public double DropPoints => Math.Round(BaselineScorePoints - ScorePoints, 1);

    /// <summary>The compare page of the baseline run against the drifted run (the diff of answers).</summary>
    public string CompareHref => $"/evals/compare?a={BaselineRunId}&b={RunId}";

    /// <summary>The alert's own page.</summary>
    public string Href => $"/evals/drift/{Id}";
}

/// <summary>One point of a prompt's score trend: a done run of a version on its own alias.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Reached from a [Parameter] (EvalTrendChart.Trend): Razor components are public and Blazor parameters must be public properties.")]
public sealed record EvalTrendPoint(Guid RunId, int Version, double ScorePoints, DateTime FinishedUtc, EvalRunTrigger Trigger, string? Series = null)
{
    /// <summary>The chart series the point belongs to: <see cref="Series"/> when given (a feature's set: the alias), else <c>v{Version}</c>.</summary>
    public string SeriesName => Series ?? $"v{Version}";
}

/// <summary>A moment a version became active in the scope (a rollback too); for a feature's set, the moment its nightly alias was chosen (<see cref="Label"/> says which).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Reached from a [Parameter] (EvalTrendChart.Trend): Razor components are public and Blazor parameters must be public properties.")]
public sealed record EvalTrendActivation(int? Version, DateTime ActivatedUtc, bool IsRollback, string? Label = null);

/// <summary>A prompt's score per version over time in one scope, with its activations and drift alerts.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Reached from a [Parameter] (EvalTrendChart.Trend): Razor components are public and Blazor parameters must be public properties.")]
public sealed record EvalTrend(
    string PromptName, Guid? TenantId, IReadOnlyList<EvalTrendPoint> Points, IReadOnlyList<EvalTrendActivation> Activations,
    IReadOnlyList<EvalDriftAlertView> Drifts);
