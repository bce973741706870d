using System.Globalization;
using System.Text;
using Keystone.Data.Prompts;

namespace Keystone.Web.Features.Prompts;

/// <summary>One version as kept in the repository: <c>prompts/&lt;name&gt;/v&lt;number&gt;.md</c>.</summary>
internal sealed record PromptFile(
    string Name,
    int Number,
    string? Description,
    string ModelAlias,
    double? Temperature,
    int? MaxTokens,
    IReadOnlyList<string> Variables,
    string? Note,
    string SystemTemplate,
    string UserTemplate,
    string? ResponseSchema)
{
    /// <summary>True when <paramref name="version"/> holds the same content (templates, settings, schema, note).</summary>
    public bool SameContentAs(PromptVersion version)
        => SystemTemplate == version.SystemTemplate && UserTemplate == version.UserTemplate && ModelAlias == version.ModelAlias
            && Temperature == version.Temperature && MaxTokens == version.MaxTokens && (ResponseSchema ?? "") == (version.ResponseSchema ?? "")
            && (Note ?? "") == (version.Note ?? "");
}

/// <summary>A file that could not be read: its path, the line, and what is wrong.</summary>
internal sealed class PromptFileException(string path, int line, string message) : Exception($"{path}:{line}: {message}")
{
    public string Path { get; } = path;

    public int Line { get; } = line;
}

/// <summary>
/// The prompt file format (docs/prompts-as-files.md): front matter of <c>key: value</c> lines between <c>---</c> lines
/// (description, alias, temperature, max_tokens, variables, note), then the system template after a
/// <c>&lt;!-- system --&gt;</c> line, the user template after <c>&lt;!-- user --&gt;</c>, and optionally the response schema
/// (JSON) after <c>&lt;!-- response_schema --&gt;</c>. HTML comments keep the markers invisible when the file is viewed as markdown.
/// </summary>
internal static class PromptFileFormat
{
    public const string SystemMarker = "<!-- system -->";
    public const string UserMarker = "<!-- user -->";
    public const string SchemaMarker = "<!-- response_schema -->";

    /// <summary>Reads one file. Throws <see cref="PromptFileException"/> naming the line of the first problem.</summary>
    public static PromptFile Parse(string path, string name, int number, string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        if (lines.Length == 0 || lines[0].Trim() != "---")
        {
            throw new PromptFileException(path, 1, "The file must start with front matter: a line '---', 'key: value' lines, then '---'.");
        }

        var fields = new Dictionary<string, (string Value, int Line)>(StringComparer.OrdinalIgnoreCase);
        var i = 1;
        for (; i < lines.Length && lines[i].Trim() != "---"; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
            {
                continue;
            }

            var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new PromptFileException(path, i + 1, $"'{lines[i].Trim()}' is not a 'key: value' line.");
            }

            var key = lines[i][..colon].Trim();
            if (key is not ("description" or "alias" or "temperature" or "max_tokens" or "variables" or "note"))
            {
                throw new PromptFileException(path, i + 1, $"Unknown front matter key '{key}': use description, alias, temperature, max_tokens, variables or note.");
            }

            fields[key] = (lines[i][(colon + 1)..].Trim(), i + 1);
        }

        if (i >= lines.Length)
        {
            throw new PromptFileException(path, lines.Length, "The front matter is not closed by a '---' line.");
        }

        if (!fields.TryGetValue("alias", out var alias) || alias.Value.Length == 0)
        {
            throw new PromptFileException(path, i + 1, "The front matter needs 'alias' (the model alias, for example smart).");
        }

        double? temperature = null;
        if (fields.TryGetValue("temperature", out var t) && t.Value.Length > 0)
        {
            temperature = double.TryParse(t.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed)
                ? parsed : throw new PromptFileException(path, t.Line, $"temperature '{t.Value}' is not a number.");
        }

        int? maxTokens = null;
        if (fields.TryGetValue("max_tokens", out var m) && m.Value.Length > 0)
        {
            maxTokens = int.TryParse(m.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed)
                ? parsed : throw new PromptFileException(path, m.Line, $"max_tokens '{m.Value}' is not a whole number.");
        }

        var variables = fields.TryGetValue("variables", out var v)
            ? v.Value.Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
        foreach (var variable in variables)
        {
            if (!PromptTemplate.IsVariableName(variable))
            {
                throw new PromptFileException(path, v.Line, $"'{variable}' is not a variable name.");
            }
        }

        var sections = Sections(path, lines, i + 1);
        if (!sections.TryGetValue(UserMarker, out var user) || string.IsNullOrWhiteSpace(user))
        {
            throw new PromptFileException(path, lines.Length, $"The file needs a user template after a '{UserMarker}' line.");
        }

        var file = new PromptFile(name, number, Value(fields, "description"), alias.Value, temperature, maxTokens, variables, Value(fields, "note"),
            sections.GetValueOrDefault(SystemMarker, "").Trim(), user.Trim(), sections.GetValueOrDefault(SchemaMarker)?.Trim() is { Length: > 0 } schema ? schema : null);
        var error = PromptCatalog.Validate(new NewPromptVersion(file.SystemTemplate, file.UserTemplate, file.ModelAlias, file.Temperature, file.MaxTokens, file.Note, file.ResponseSchema));
        if (error is not null)
        {
            throw new PromptFileException(path, i + 1, error);
        }

        return file;
    }

    /// <summary>A version in the file format (what the console's download and <c>--export-prompts</c> write).</summary>
    public static string Write(Prompt prompt, PromptVersion version, IReadOnlyCollection<string> variables)
    {
        var text = new StringBuilder();
        text.Append("---\n");
        if (!string.IsNullOrWhiteSpace(prompt.Description))
        {
            text.Append("description: ").Append(OneLine(prompt.Description)).Append('\n');
        }

        text.Append("alias: ").Append(version.ModelAlias).Append('\n');
        if (version.Temperature is { } t)
        {
            text.Append("temperature: ").Append(t.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        if (version.MaxTokens is { } m)
        {
            text.Append("max_tokens: ").Append(m.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        if (variables.Count > 0)
        {
            text.Append("variables: ").Append(string.Join(", ", variables)).Append('\n');
        }

        if (!string.IsNullOrWhiteSpace(version.Note))
        {
            text.Append("note: ").Append(OneLine(version.Note)).Append('\n');
        }

        text.Append("---\n").Append(SystemMarker).Append('\n').Append(version.SystemTemplate).Append("\n\n")
            .Append(UserMarker).Append('\n').Append(version.UserTemplate).Append('\n');
        if (version.ResponseSchema is { } schema)
        {
            text.Append('\n').Append(SchemaMarker).Append('\n').Append(schema).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>The file name of version <paramref name="number"/>.</summary>
    public static string FileName(int number) => $"v{number.ToString(CultureInfo.InvariantCulture)}.md";

    /// <summary>The version number in a file name (<c>v3.md</c> → 3), or null when it is not a version file.</summary>
    public static int? NumberOf(string fileName)
        => fileName.StartsWith('v') && fileName.EndsWith(".md", StringComparison.Ordinal)
           && int.TryParse(fileName.AsSpan(1, fileName.Length - 4), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;

    private static Dictionary<string, string> Sections(string path, string[] lines, int start)
    {
        var sections = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        var body = new StringBuilder();
        for (var i = start; i < lines.Length; i++)
        {
            var trimmed = lines[i].Trim();
            if (trimmed is SystemMarker or UserMarker or SchemaMarker)
            {
                if (current is not null)
                {
                    sections[current] = body.ToString();
                }

                if (sections.ContainsKey(trimmed))
                {
                    throw new PromptFileException(path, i + 1, $"'{trimmed}' appears twice.");
                }

                current = trimmed;
                body.Clear();
                continue;
            }

            if (current is null)
            {
                if (!string.IsNullOrWhiteSpace(lines[i]))
                {
                    throw new PromptFileException(path, i + 1, $"Text before the first section: start the templates with a '{SystemMarker}' or '{UserMarker}' line.");
                }

                continue;
            }

            body.Append(lines[i]).Append('\n');
        }

        if (current is not null)
        {
            sections[current] = body.ToString();
        }

        return sections;
    }

    private static string? Value(Dictionary<string, (string Value, int Line)> fields, string key)
        => fields.TryGetValue(key, out var f) && f.Value.Length > 0 ? f.Value : null;

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}
