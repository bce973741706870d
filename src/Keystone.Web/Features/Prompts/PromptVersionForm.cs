using System.Diagnostics.CodeAnalysis;
using Keystone.Data.Prompts;

namespace Keystone.Web.Features.Prompts;

/// <summary>The editor's draft of a new version: the templates and settings as typed, before validation.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (PromptEditor.Form): Razor components are public and Blazor parameters must be public properties.")]
public sealed class PromptVersionForm
{
    /// <summary>The version the draft started from (0 for a new prompt).</summary>
    public int FromNumber { get; init; }

    public string? SystemTemplate { get; set; }

    public string? UserTemplate { get; set; }

    public string? ModelAlias { get; set; }

    public double? Temperature { get; set; }

    public int? MaxTokens { get; set; }

    public string? ResponseSchema { get; set; }

    public string? Note { get; set; }

    /// <summary>A draft holding <paramref name="version"/>'s content.</summary>
    internal static PromptVersionForm From(PromptVersion version) => new()
    {
        FromNumber = version.Number,
        SystemTemplate = version.SystemTemplate,
        UserTemplate = version.UserTemplate,
        ModelAlias = version.ModelAlias,
        Temperature = version.Temperature,
        MaxTokens = version.MaxTokens,
        ResponseSchema = version.ResponseSchema,
    };

    internal NewPromptVersion ToNewVersion() => new(SystemTemplate, UserTemplate, ModelAlias, Temperature, MaxTokens, Note, ResponseSchema);

    internal PromptDraft ToDraft() => new(SystemTemplate, UserTemplate, ModelAlias?.Trim() ?? "", MaxTokens);
}
