namespace Keystone.Data.Playground;

/// <summary>
/// A saved playground conversation. Owned by one tenant and private to the console user who started it;
/// the settings are the ones the next message is sent with.
/// </summary>
public sealed class Conversation : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The console user (Identity id) the conversation belongs to.</summary>
    public string UserId { get; set; } = "";

    public string Title { get; set; } = "";

    /// <summary>Alias or <c>provider/model</c> the next message goes to.</summary>
    public string Model { get; set; } = "";

    public string? SystemPrompt { get; set; }

    public double? Temperature { get; set; }

    public int? MaxTokens { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime UpdatedUtc { get; set; }

    public List<ConversationMessage> Messages { get; set; } = [];
}
