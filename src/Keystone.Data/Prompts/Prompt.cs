namespace Keystone.Data.Prompts;

/// <summary>
/// A managed prompt: a named, versioned pair of templates owned by the platform (written by prompt editors).
/// Not tenant-owned; a tenant's own wording is an override <see cref="PromptActivation"/> of one of its versions.
/// </summary>
public sealed class Prompt
{
    public Guid Id { get; set; }

    /// <summary>Unique slug callers use (<c>support-reply</c>): lower-case letters, digits and dashes.</summary>
    public string Name { get; set; } = "";

    public string? Description { get; set; }

    public DateTime CreatedUtc { get; set; }

    /// <summary>
    /// The editor's sample variables (a JSON object of names to sample values), kept per prompt for the live preview,
    /// the cost estimate and test runs. They also declare the prompt's variables: the editor warns about a
    /// <c>{{variable}}</c> that is not among them and about one of them no template uses. Null until first saved.
    /// </summary>
    public string? SampleVariables { get; set; }
}
