namespace Keystone.Data.Agents;

/// <summary>
/// A tenant's agent: which model alias it talks to, which managed prompt is its system prompt, which tools it may
/// call, and what one run and one day of runs may spend.
/// </summary>
public sealed class Agent : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public string Name { get; set; } = "";

    /// <summary>The model alias every step calls (<c>smart</c>); business code never names a raw provider model.</summary>
    public string ModelAlias { get; set; } = "";

    /// <summary>The managed prompt whose system template is the agent's system prompt; null: no system prompt.</summary>
    public string? PromptName { get; set; }

    /// <summary>A pinned version of <see cref="PromptName"/>; null: the version active for the tenant when a run starts.</summary>
    public int? PromptVersionNumber { get; set; }

    /// <summary>The tools the agent may call, space-separated registry names.</summary>
    public string Tools { get; set; } = "";

    /// <summary>What one run may spend, micro-USD.</summary>
    public long RunBudgetMicros { get; set; }

    /// <summary>What all of the agent's runs of one UTC day may spend, micro-USD.</summary>
    public long DayBudgetMicros { get; set; }

    /// <summary>The most model calls one run may make.</summary>
    public int MaxSteps { get; set; }

    public string CreatedByUserId { get; set; } = "";

    public DateTime CreatedUtc { get; set; }

    public DateTime UpdatedUtc { get; set; }
}
