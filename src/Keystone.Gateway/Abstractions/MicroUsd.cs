using System.Globalization;

namespace Keystone.Gateway;

/// <summary>
/// The one rule that turns micro-USD into text (docs/decisions/0003-money-as-micro-usd.md), shared by the gateway's
/// refusal messages and the console's <c>Money</c>: <c>$1,234.56</c> from one dollar up; below that as many decimals as
/// the amount needs, up to the micro-dollar (<c>$0.50</c>, <c>$0.0042</c>, <c>$0.000123</c>), exactly — a cheap call
/// never shows as <c>$0.00</c> and $0.999999 never rounds up to a dollar.
/// </summary>
public static class MicroUsd
{
    /// <summary>Micro-USD per dollar.</summary>
    public const long PerDollar = 1_000_000;

    /// <summary>Formats micro-USD as dollars (see the class).</summary>
    public static string Format(long micros)
    {
        var sign = micros < 0 ? "-" : "";
        var abs = micros == long.MinValue ? long.MaxValue : Math.Abs(micros);
        var dollars = abs / PerDollar;
        var fraction = abs % PerDollar;
        var inv = CultureInfo.InvariantCulture;
        if (abs >= PerDollar)
        {
            var cents = (fraction + 5_000) / 10_000;
            if (cents == 100)
            {
                dollars++;
                cents = 0;
            }

            return $"{sign}${dollars.ToString("N0", inv)}.{cents.ToString("00", inv)}";
        }

        var digits = fraction.ToString("000000", inv).TrimEnd('0');
        return $"{sign}$0.{(digits.Length < 2 ? digits.PadRight(2, '0') : digits)}";
    }
}
