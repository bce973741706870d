namespace Keystone.Data.Agents;

/// <summary>A tenant admin's autonomy level for one tool (1 suggest only … 5 autonomous with audit), within the platform's maximum.</summary>
public sealed class AgentToolSetting : ITenantOwned
{
    public Guid TenantId { get; set; }

    public string Tool { get; set; } = "";

    public int Level { get; set; }

    public string UpdatedByUserId { get; set; } = "";

    public DateTime UpdatedUtc { get; set; }
}
