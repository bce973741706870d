using System.Text.Json;

namespace Keystone.Web.Platform.Http;

/// <summary>Typed reads of request fields that fail with a 400 naming the field.</summary>
internal static class JsonFields
{
    public static string RequiredString(JsonElement obj, string name, int maxLength, string? path = null, bool allowEmpty = false)
    {
        path ??= name;
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw ApiException.Invalid(path, $"{path} is required.");
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw ApiException.Invalid(path, $"{path} must be a string.");
        }

        var s = value.GetString()!;
        if (!allowEmpty && s.Length == 0)
        {
            throw ApiException.Invalid(path, $"{path} must not be empty.");
        }

        if (s.Length > maxLength)
        {
            throw ApiException.Invalid(path, $"{path} is longer than {maxLength} characters.");
        }

        return s;
    }

    public static string? OptionalString(JsonElement obj, string name, int maxLength, string? path = null)
    {
        path ??= name;
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw ApiException.Invalid(path, $"{path} must be a string.");
        }

        var s = value.GetString()!;
        return s.Length > maxLength ? throw ApiException.Invalid(path, $"{path} is longer than {maxLength} characters.") : s;
    }

    public static double? OptionalNumber(JsonElement obj, string name, double min, double max, string? path = null)
    {
        path ??= name;
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var d) || !double.IsFinite(d) || d < min || d > max)
        {
            throw ApiException.Invalid(path, $"{path} must be a number from {min} to {max}.");
        }

        return d;
    }

    public static int? OptionalInt(JsonElement obj, string name, int min, int max, string? path = null)
    {
        path ??= name;
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var i) || i < min || i > max)
        {
            throw ApiException.Invalid(path, $"{path} must be an integer from {min} to {max}.");
        }

        return i;
    }

    public static long? OptionalLong(JsonElement obj, string name, long min, long max, string? path = null)
    {
        path ??= name;
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var i) || i < min || i > max)
        {
            throw ApiException.Invalid(path, $"{path} must be an integer from {min} to {max}.");
        }

        return i;
    }

    public static bool? OptionalBool(JsonElement obj, string name, string? path = null)
    {
        path ??= name;
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiException.Invalid(path, $"{path} must be true or false."),
        };
    }
}
