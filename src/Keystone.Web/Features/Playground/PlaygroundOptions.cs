using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Playground;

/// <summary>Playground settings (section <c>Playground</c>).</summary>
internal sealed class PlaygroundOptions
{
    public const string SectionName = "Playground";

    /// <summary>Shortest time between two renders of a streaming answer. Default: 50 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:01")]
    public TimeSpan RenderInterval { get; set; } = TimeSpan.FromMilliseconds(50);
}
