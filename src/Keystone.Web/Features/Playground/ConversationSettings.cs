using System.Diagnostics.CodeAnalysis;

namespace Keystone.Web.Features.Playground;

/// <summary>What the next message of a conversation is sent with.</summary>
/// <param name="Model">Alias or <c>provider/model</c>.</param>
/// <param name="SystemPrompt">Optional system prompt.</param>
/// <param name="Temperature">Sampling temperature (null: the model's default).</param>
/// <param name="MaxTokens">Output token limit (null: the gateway's default).</param>
internal sealed record ConversationSettings(string Model, string? SystemPrompt, double? Temperature, int? MaxTokens);

/// <summary>One row of the conversation list.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (ConversationList.Conversations): Razor components are public and Blazor parameters must be public properties.")]
public sealed record ConversationSummary(Guid Id, string Title, string Model, DateTime UpdatedUtc);
