using System.Diagnostics.CodeAnalysis;

namespace Keystone.Web.Components.Shared;

/// <summary>One series of a <see cref="Chart"/>: a name and one value per category.</summary>
/// <param name="Name">Legend name.</param>
/// <param name="Values">One value per category (dollars for money charts: see <see cref="Money.Dollars"/>).</param>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (Chart.Series): Razor components are public and Blazor parameters must be public properties.")]
public sealed record ChartSeries(string Name, IReadOnlyList<decimal> Values);

/// <summary>What a chart's numbers are, for axis labels and tooltips.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (Chart.Unit): Razor components are public and Blazor parameters must be public properties.")]
public enum ChartUnit
{
    /// <summary>Plain counts.</summary>
    Count,

    /// <summary>US dollars.</summary>
    Usd,

    /// <summary>Ratios 0..1 shown as percentages.</summary>
    Percent,

    /// <summary>Milliseconds.</summary>
    Milliseconds,
}
