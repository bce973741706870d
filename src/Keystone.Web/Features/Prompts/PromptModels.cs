using Keystone.Data.Prompts;

namespace Keystone.Web.Features.Prompts;

/// <summary>One row of the prompts list.</summary>
internal sealed record PromptListRow(Guid Id, string Name, string? Description, int? ActiveGlobalVersion, int VersionCount, int TenantOverrides);

/// <summary>A tenant's override: the version it uses instead of the global one.</summary>
internal sealed record PromptOverride(Guid TenantId, string TenantName, int VersionNumber);

/// <summary>One activation history entry, newest first.</summary>
internal sealed record PromptActivationRow(long Id, Guid? TenantId, string? TenantName, int? VersionNumber, string? ActivatedBy, bool IsRollback,
    DateTime ActivatedUtc);

/// <summary>Everything the prompt page shows.</summary>
internal sealed record PromptDetail(
    Prompt Prompt,
    IReadOnlyList<PromptVersion> Versions,
    int? ActiveGlobalVersion,
    IReadOnlyList<PromptOverride> Overrides,
    IReadOnlyList<PromptActivationRow> History);

/// <summary>A new version's content, as the editor typed it.</summary>
/// <param name="ResponseSchema">Optional JSON Schema text the answer must follow (blank: free text).</param>
internal sealed record NewPromptVersion(string? SystemTemplate, string? UserTemplate, string? ModelAlias, double? Temperature, int? MaxTokens, string? Note,
    string? ResponseSchema = null);

/// <summary>A version as offered by pickers (trace replay, search).</summary>
internal sealed record PromptVersionOption(Guid Id, int Number, string? Note);

/// <summary>A tenant as offered by the override picker.</summary>
internal sealed record PromptTenantOption(Guid Id, string Name);
