using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Agents.Tools;

/// <summary>Tool rules that are not about runs (<c>Agents:Tools:*</c>).</summary>
internal sealed class ToolOptions
{
    public const string SectionName = "Agents:Tools";

    /// <summary>How long after an L2 tool acted a person may undo it, minutes. Default 60.</summary>
    [Range(1, 10_080)] public int UndoWindowMinutes { get; set; } = 60;
}
