using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Prompts;

/// <summary>The activation gate dialog's steps, shared by the prompt journey and the evals journey.</summary>
internal static partial class ActivationGateSteps
{
    /// <summary>
    /// Waits for the gate's final word (anything but pending: its runs are finished), so the dialog's buttons no longer
    /// change under the caller, and returns it (<c>allowed</c>, <c>blocked</c>, <c>unavailable</c>, <c>noset</c>, …).
    /// </summary>
    public static async Task<string> FinalVerdictAsync(IPage page)
    {
        var verdict = page.Locator("[data-test=gate-verdict]");
        await Assertions.Expect(verdict).ToHaveAttributeAsync("data-verdict", NotPending(), new() { Timeout = 90_000 });
        return (await verdict.GetAttributeAsync("data-verdict"))!;
    }

    [GeneratedRegex("^(?!pending$).+$")]
    private static partial Regex NotPending();
}
