using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Keystone.Data.Pricing;

namespace Keystone.Gateway.Pricing;

/// <summary>
/// The versioned price file embedded in the gateway (<c>Pricing/prices.v1.json</c>): list prices in USD per
/// million tokens, converted here to the integer micro-USD the database stores.
/// </summary>
internal static class PriceFile
{
    public const string ResourceName = "Keystone.Gateway.Pricing.prices.v1.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary>Every row of the embedded file.</summary>
    public static IReadOnlyList<ModelPrice> LoadEmbedded()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The price file resource '{ResourceName}' is missing from the gateway assembly.");
        return Parse(stream);
    }

    public static IReadOnlyList<ModelPrice> Parse(Stream json)
    {
        var file = JsonSerializer.Deserialize<FileShape>(json, Json)
            ?? throw new InvalidDataException("The price file is empty.");
        var rows = new List<ModelPrice>(file.Prices.Count);
        foreach (var p in file.Prices)
        {
            var source = file.Sources.TryGetValue(p.Source, out var cited) ? cited : p.Source;
            if (!string.IsNullOrWhiteSpace(p.Mirrors))
            {
                // A simulated model says which real model's list price it carries, so the price page shows why it costs that.
                source = $"{source}; priced as {p.Mirrors}";
            }

            rows.Add(new ModelPrice
            {
                Provider = p.Provider,
                Model = p.Model,
                EffectiveFromUtc = DateTime.SpecifyKind(p.EffectiveFromUtc.UtcDateTime, DateTimeKind.Utc),
                InputMicrosPerMillion = ToMicros(p.Input, p, "input"),
                OutputMicrosPerMillion = ToMicros(p.Output, p, "output"),
                CachedInputMicrosPerMillion = p.CachedInput is { } c ? ToMicros(c, p, "cachedInput") : null,
                CacheWrite5mMicrosPerMillion = p.CacheWrite5m is { } w5 ? ToMicros(w5, p, "cacheWrite5m") : null,
                CacheWrite1hMicrosPerMillion = p.CacheWrite1h is { } w1 ? ToMicros(w1, p, "cacheWrite1h") : null,
                BatchDiscountPercent = p.BatchDiscountPercent,
                Source = source.Length > 512 ? source[..512] : source,
            });
        }

        return rows;
    }

    /// <summary>USD per million → micro-USD per million, exactly; a price finer than one micro-USD is a typo in the file.</summary>
    private static long ToMicros(decimal usd, PriceShape p, string field)
    {
        var micros = usd * 1_000_000m;
        if (micros != decimal.Truncate(micros) || micros < 0)
        {
            throw new InvalidDataException($"Price file: {p.Provider}/{p.Model} {field}={usd} is not a whole number of micro-USD.");
        }

        return (long)micros;
    }

    private sealed record FileShape(int Version, Dictionary<string, string> Sources, List<PriceShape> Prices);

    private sealed record PriceShape(
        string Provider,
        string Model,
        DateTimeOffset EffectiveFromUtc,
        decimal Input,
        decimal Output,
        decimal? CachedInput,
        decimal? CacheWrite5m,
        decimal? CacheWrite1h,
        int BatchDiscountPercent,
        string Source,
        string? Mirrors = null);
}
