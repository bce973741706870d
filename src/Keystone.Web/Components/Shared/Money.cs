using System.Globalization;
using Keystone.Gateway;

namespace Keystone.Web.Components.Shared;

/// <summary>
/// The one place micro-USD becomes text (docs/decisions/0003-money-as-micro-usd.md): <see cref="MoneyText"/> renders with it, CSV
/// exports and chart labels use it. Amounts of a dollar or more show cents; smaller amounts keep enough
/// digits to stay meaningful (a $0.0004 call is not "$0.00").
/// </summary>
internal static class Money
{
    /// <summary>Micro-USD per dollar.</summary>
    public const long MicrosPerDollar = MicroUsd.PerDollar;

    /// <summary>
    /// Formats micro-USD as dollars: <c>$1,234.56</c> from one dollar up; below that as many decimals as the
    /// amount needs, up to the micro-dollar (<c>$0.50</c>, <c>$0.0042</c>, <c>$0.000123</c>), exactly — a cheap
    /// call never shows as <c>$0.00</c> and $0.999999 never rounds up to a dollar.
    /// </summary>
    public static string Format(long micros) => MicroUsd.Format(micros);

    /// <summary>Micro-USD as a decimal number of dollars (exact), for charts and CSV.</summary>
    public static decimal Dollars(long micros) => micros / (decimal)MicrosPerDollar;

    /// <summary>A dollar amount typed into a form as micro-USD, rounded to the nearest micro-dollar; null stays null.</summary>
    public static long? MicrosFromDollars(decimal? dollars) => dollars is { } d ? (long)decimal.Round(d * MicrosPerDollar) : null;

    /// <summary>Parses a plain dollar amount (<c>99</c>, <c>99.5</c>, <c>-12.25</c>) into micro-USD; false when not a number or below a micro-dollar.</summary>
    public static bool TryParseDollars(string text, out long micros)
    {
        micros = 0;
        if (!decimal.TryParse(text.Trim(), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture, out var dollars))
        {
            return false;
        }

        var scaled = dollars * MicrosPerDollar;
        if (scaled != decimal.Truncate(scaled) || Math.Abs(scaled) > long.MaxValue / 2)
        {
            return false;
        }

        micros = (long)scaled;
        return true;
    }

    /// <summary>A ratio as a percentage with one decimal (<c>42.5 %</c>), or an em dash when undefined.</summary>
    public static string Percent(double? ratio) => ratio is { } r && double.IsFinite(r)
        ? (r * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %"
        : "—";
}
