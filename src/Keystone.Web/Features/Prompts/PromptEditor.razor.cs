using Microsoft.AspNetCore.Components;

namespace Keystone.Web.Features.Prompts;

public sealed partial class PromptEditor
{
    private IReadOnlyList<PromptFinding> _findings = [];

    /// <summary>The draft being edited (changed in place). Required.</summary>
    [Parameter, EditorRequired] public PromptVersionForm Form { get; set; } = default!;

    /// <summary>The prompt's sample variables: their names are the declared variables, their values fill the preview. Default: none.</summary>
    [Parameter] public IReadOnlyDictionary<string, string> Samples { get; set; } = new Dictionary<string, string>();

    /// <summary>Counts the tokens of a text (the gateway's tokenizer). Default: no counting (0), so no placement warning.</summary>
    [Parameter] public Func<string, int> CountTokens { get; set; } = _ => 0;

    /// <summary>Aliases the model field suggests. Default: none.</summary>
    [Parameter] public IReadOnlyList<string> Aliases { get; set; } = [];

    /// <summary>The number the saved version will get. Default 1.</summary>
    [Parameter] public int NextNumber { get; set; } = 1;

    /// <summary>Disables the save button while the page works. Default false.</summary>
    [Parameter] public bool Busy { get; set; }

    /// <summary>The save's validation message. Default: none.</summary>
    [Parameter] public string? Error { get; set; }

    /// <summary>Raised after every change that moves the cost or the preview (templates, alias, max tokens).</summary>
    [Parameter] public EventCallback OnChanged { get; set; }

    /// <summary>Save pressed.</summary>
    [Parameter] public EventCallback OnSave { get; set; }

    /// <summary>Cancel pressed.</summary>
    [Parameter] public EventCallback OnCancel { get; set; }

    private IReadOnlyCollection<string> Declared => Samples.Keys.ToHashSet(StringComparer.Ordinal);

    protected override void OnParametersSet() => Check();

    private async Task ChangedAsync(Action apply)
    {
        apply();
        Check();
        await OnChanged.InvokeAsync();
    }

    private void Check() => _findings = PromptLint.Check(Form.SystemTemplate, Form.UserTemplate, Declared, CountTokens);
}
