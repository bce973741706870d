using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Prompts;

/// <summary>Prompts kept as files in the repository (<c>Prompts:*</c>).</summary>
internal sealed class PromptFilesOptions
{
    public const string SectionName = "Prompts";

    /// <summary>
    /// Folder of <c>&lt;name&gt;/v&lt;n&gt;.md</c> files imported at start; relative paths resolve against the app's
    /// folder, where the build copies the repository's <c>prompts/</c>. Empty turns the import off. Default <c>prompts</c>.
    /// </summary>
    [MaxLength(1024)]
    public string? FilesDirectory { get; set; } = "prompts";

    /// <summary>The folder as an absolute path, or null when the import is off.</summary>
    public string? ResolvedDirectory => string.IsNullOrWhiteSpace(FilesDirectory) ? null
        : Path.GetFullPath(Path.IsPathRooted(FilesDirectory) ? FilesDirectory : Path.Combine(AppContext.BaseDirectory, FilesDirectory));
}
