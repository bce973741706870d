using System.Text.Json;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Api;

/// <summary>
/// A structural check of the JSON schemas callers send (tool parameters, response formats): the keywords
/// providers and the simulated provider rely on must have the right JSON type, as OpenAI itself requires.
/// It does not validate JSON Schema semantics; it keeps a malformed schema a 400 instead of an upstream failure.
/// </summary>
internal static class JsonSchemaShape
{
    private static readonly HashSet<string> SchemaMaps = ["properties", "$defs", "definitions", "patternProperties"];
    private static readonly HashSet<string> SchemaLists = ["anyOf", "oneOf", "allOf", "prefixItems"];

    public static void Check(JsonElement schema, string path, bool root)
    {
        if (root && (!schema.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String || t.GetString() != "object"))
        {
            throw ApiException.Invalid(path, $"{path} must be a JSON schema with \"type\": \"object\".");
        }

        Walk(schema, path, 0);
    }

    private static void Walk(JsonElement schema, string path, int depth)
    {
        if (schema.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return;
        }

        if (schema.ValueKind != JsonValueKind.Object || depth > 32)
        {
            throw ApiException.Invalid(path, $"{path} must be a JSON schema object (at most 32 levels deep).");
        }

        foreach (var keyword in schema.EnumerateObject())
        {
            var at = $"{path}.{keyword.Name}";
            var value = keyword.Value;
            switch (keyword.Name)
            {
                case "type":
                    if (value.ValueKind != JsonValueKind.String
                        && (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String)))
                    {
                        throw ApiException.Invalid(at, $"{at} must be a type name or an array of type names.");
                    }

                    break;
                case "enum" or "required" when value.ValueKind != JsonValueKind.Array:
                    throw ApiException.Invalid(at, $"{at} must be an array.");
                case "required" when value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String):
                    throw ApiException.Invalid(at, $"{at} must list property names.");
                case "minItems" or "maxItems" or "minLength" or "maxLength" or "minimum" or "maximum"
                    when value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var n) || !double.IsFinite(n) || Math.Abs(n) > int.MaxValue:
                    throw ApiException.Invalid(at, $"{at} must be a number.");
                case "items" or "additionalProperties" or "not":
                    Walk(value, at, depth + 1);
                    break;
                case var name when SchemaMaps.Contains(name):
                    if (value.ValueKind != JsonValueKind.Object)
                    {
                        throw ApiException.Invalid(at, $"{at} must be an object of schemas.");
                    }

                    foreach (var p in value.EnumerateObject())
                    {
                        Walk(p.Value, $"{at}.{p.Name}", depth + 1);
                    }

                    break;
                case var name when SchemaLists.Contains(name):
                    if (value.ValueKind != JsonValueKind.Array)
                    {
                        throw ApiException.Invalid(at, $"{at} must be an array of schemas.");
                    }

                    var i = 0;
                    foreach (var item in value.EnumerateArray())
                    {
                        Walk(item, $"{at}[{i++}]", depth + 1);
                    }

                    break;
                default:
                    break;
            }
        }
    }
}
