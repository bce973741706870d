using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Gateway;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Features.Prompts;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Agents;

/// <summary>What a tenant admin sets on an agent.</summary>
internal sealed record AgentInput(string Name, string ModelAlias, string? PromptName, int? PromptVersionNumber, IReadOnlyList<string> Tools,
    long RunBudgetMicros, long DayBudgetMicros, int MaxSteps);

/// <summary>An agent as the console and the API show it.</summary>
internal sealed record AgentView(Guid Id, string Name, string ModelAlias, string? PromptName, int? PromptVersionNumber, IReadOnlyList<string> Tools,
    long RunBudgetMicros, long DayBudgetMicros, int MaxSteps, DateTime UpdatedUtc);

/// <summary>A tool with the level in force for a tenant.</summary>
internal sealed record ToolLevelView(ToolDescriptor Tool, AutonomyLevel Level, AutonomyLevel MaxLevel, bool IsTenantSetting, bool Undoable = false);

/// <summary>
/// A tenant's agents and tool autonomy levels. Every method takes the tenant from its caller's context (the console's
/// tenant, the API key's tenant), never from input.
/// </summary>
internal sealed class AgentCatalog(KeystoneDbFactory dbFactory, ILlmGateway gateway, IBudgetService budgets, PromptRenderer prompts, ToolRegistry registry,
    TimeProvider clock)
{
    public const int MaxStepsLimit = 100;

    /// <summary>The feature label an agent's model calls carry: its day budget is a feature cap on it, held by the gateway.</summary>
    public static string FeatureLabelOf(Guid agentId) => $"agent/{agentId:N}";

    public async Task<IReadOnlyList<AgentView>> ListAsync(Guid tenantId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var rows = await db.Agents.AsNoTracking().Where(a => a.TenantId == tenantId).OrderBy(a => a.Name).ToListAsync(ct);
        return [.. rows.Select(ToView)];
    }

    public async Task<AgentView?> GetAsync(Guid tenantId, Guid id, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var row = await db.Agents.AsNoTracking().SingleOrDefaultAsync(a => a.Id == id && a.TenantId == tenantId, ct);
        return row is null ? null : ToView(row);
    }

    /// <summary>The chat models the tenant may give an agent.</summary>
    public async Task<IReadOnlyList<string>> ModelsAsync(Guid tenantId, CancellationToken ct)
        => [.. (await gateway.ModelsAsync(tenantId, ct)).Where(m => !m.IsEmbedding).Select(m => m.Id)];

    /// <summary>Managed prompt names (platform data) an agent's system prompt can come from.</summary>
    public async Task<IReadOnlyList<string>> PromptNamesAsync(CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        return await db.Prompts.AsNoTracking().OrderBy(p => p.Name).Select(p => p.Name).ToListAsync(ct);
    }

    /// <summary>Creates (<paramref name="id"/> null) or updates an agent, and sets its day budget as the gateway's feature cap.</summary>
    public async Task<AgentView> SaveAsync(Guid tenantId, Guid? id, AgentInput input, string userId, CancellationToken ct)
    {
        var name = (input.Name ?? "").Trim();
        if (name.Length is 0 or > 100)
        {
            throw AgentException.Bad("name", "Give the agent a name of 1 to 100 characters.");
        }

        var models = await ModelsAsync(tenantId, ct);
        if (!models.Contains(input.ModelAlias?.Trim() ?? "", StringComparer.OrdinalIgnoreCase))
        {
            throw AgentException.Bad("model", $"'{input.ModelAlias}' is not a chat model this tenant may use.");
        }

        var tools = await registry.ForTenantAsync(tenantId, ct);
        if (input.Tools.FirstOrDefault(t => tools.Find(t) is null) is { } unknown)
        {
            throw AgentException.Bad("tools", $"There is no tool named '{unknown}'.");
        }

        if (input.RunBudgetMicros <= 0 || input.DayBudgetMicros <= 0 || input.RunBudgetMicros > input.DayBudgetMicros)
        {
            throw AgentException.Bad("budget", "Budgets must be above zero, and a run's budget cannot exceed the day's.");
        }

        if (input.MaxSteps is < 1 or > MaxStepsLimit)
        {
            throw AgentException.Bad("maxSteps", $"The step cap must be from 1 to {MaxStepsLimit}.");
        }

        var promptName = string.IsNullOrWhiteSpace(input.PromptName) ? null : input.PromptName.Trim();
        if (promptName is not null)
        {
            try
            {
                await prompts.ResolveAsync(promptName, tenantId, input.PromptVersionNumber, ct);
            }
            catch (PromptException ex)
            {
                throw AgentException.Bad("prompt", ex.Message);
            }
        }

        var now = clock.GetUtcNow().UtcDateTime;
        Agent row;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            if (id is { } existing)
            {
                row = await db.Agents.SingleOrDefaultAsync(a => a.Id == existing && a.TenantId == tenantId, ct)
                    ?? throw AgentException.Missing("There is no such agent in this tenant.");
            }
            else
            {
                row = new Agent { Id = Guid.CreateVersion7(), TenantId = tenantId, CreatedByUserId = userId, CreatedUtc = now };
                db.Agents.Add(row);
            }

            row.Name = name;
            row.ModelAlias = models.First(m => string.Equals(m, input.ModelAlias!.Trim(), StringComparison.OrdinalIgnoreCase));
            row.PromptName = promptName;
            row.PromptVersionNumber = promptName is null ? null : input.PromptVersionNumber;
            row.Tools = string.Join(' ', input.Tools.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
            row.RunBudgetMicros = input.RunBudgetMicros;
            row.DayBudgetMicros = input.DayBudgetMicros;
            row.MaxSteps = input.MaxSteps;
            row.UpdatedUtc = now;
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
            {
                throw new AgentException(409, AgentException.Conflict, $"This tenant already has an agent named '{name}'.", "name");
            }
        }

        // The day budget is held where every call is reserved: a feature cap on the agent's label, so concurrent runs
        // on any instance can never pass it together.
        await budgets.SetAsync(tenantId, [new BudgetCapInput(BudgetScope.Feature, FeatureLabelOf(row.Id), BudgetPeriod.Day, row.DayBudgetMicros)], null, null, ct);
        return ToView(row);
    }

    /// <summary>Every tool with the level in force for the tenant.</summary>
    public async Task<IReadOnlyList<ToolLevelView>> ToolLevelsAsync(Guid tenantId, CancellationToken ct)
    {
        var tools = await registry.ForTenantAsync(tenantId, ct);
        await using var db = dbFactory.ForTenant(tenantId);
        var settings = await db.AgentToolSettings.AsNoTracking().Where(s => s.TenantId == tenantId).ToDictionaryAsync(s => s.Tool, s => s.Level, ct);
        return [.. tools.All.Select(d => new ToolLevelView(d, tools.EffectiveLevel(d, settings.TryGetValue(d.Name, out var l) ? l : null), tools.MaxLevel(d),
            settings.ContainsKey(d.Name), tools.Find(d.Name) is IUndoableTool))];
    }

    /// <summary>Sets the tenant's level for a tool; refused above what the platform allows.</summary>
    public async Task SetToolLevelAsync(Guid tenantId, string tool, AutonomyLevel level, string userId, CancellationToken ct)
    {
        var tools = await registry.ForTenantAsync(tenantId, ct);
        var found = tools.Find(tool);
        var descriptor = found?.Descriptor ?? throw AgentException.Bad("tool", $"There is no tool named '{tool}'.");
        if (level < AutonomyLevel.SuggestOnly || level > tools.MaxLevel(descriptor))
        {
            throw AgentException.Bad("level", $"'{tool}' may be set from L1 to L{(int)tools.MaxLevel(descriptor)} on this platform.");
        }

        if (level == AutonomyLevel.ActWithUndo && found is not IUndoableTool)
        {
            throw AgentException.Bad("level", $"'{tool}' cannot be undone, so it cannot be set to L2 (act with undo).");
        }

        await WriteConflicts.RetryAsync(async () =>
        {
            await using var db = dbFactory.ForTenant(tenantId);
            var row = await db.AgentToolSettings.SingleOrDefaultAsync(s => s.TenantId == tenantId && s.Tool == tool, ct);
            if (row is null)
            {
                row = new AgentToolSetting { TenantId = tenantId, Tool = tool };
                db.AgentToolSettings.Add(row);
            }

            row.Level = (int)level;
            row.UpdatedByUserId = userId;
            row.UpdatedUtc = clock.GetUtcNow().UtcDateTime;
            await db.SaveChangesAsync(ct);
        });
    }

    private static AgentView ToView(Agent a) => new(a.Id, a.Name, a.ModelAlias, a.PromptName, a.PromptVersionNumber, ToolRegistry.Split(a.Tools),
        a.RunBudgetMicros, a.DayBudgetMicros, a.MaxSteps, a.UpdatedUtc);
}
