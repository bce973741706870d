namespace Keystone.Web.Features.Prompts;

/// <summary>
/// A panel another feature shows on the prompt page (the evals feature's tolerance, drift alerts and score trend),
/// registered as a singleton by that feature so the prompt page shows it without depending on it (as the navigation's
/// badges do). The component takes <c>PromptName</c> (string) and <c>LastActivationId</c> (long?, changes when the
/// page's activations change, so the panel can read again).
/// </summary>
/// <param name="Component">A component with those two parameters.</param>
internal sealed record PromptPagePanel(Type Component);
