using Keystone.Data;
using Keystone.Data.Prompts;
using Keystone.Gateway;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Prompts;

/// <summary>A rendered managed prompt: the gateway request and the version it came from.</summary>
/// <param name="PromptName">The prompt's name (recorded on the call).</param>
/// <param name="Version">The version rendered.</param>
/// <param name="Request">The gateway request: the rendered messages, the version's alias and parameters, and the variables (recorded with the trace).</param>
internal sealed record RenderedPrompt(string PromptName, PromptVersion Version, ChatRequest Request)
{
    /// <summary><paramref name="context"/> naming this prompt version, so the call row carries it.</summary>
    public CallContext Apply(CallContext context) => context with { PromptName = PromptName, PromptVersionId = Version.Id };
}

/// <summary>
/// Resolves a managed prompt for a tenant (its override, else the global activation, or an explicit version) and
/// renders it into a gateway request. Prompts are platform data (not tenant-filtered), so any context may read them.
/// </summary>
internal sealed class PromptRenderer(KeystoneDbFactory dbFactory)
{
    /// <summary>
    /// The version to use: <paramref name="versionNumber"/> when given, else the active version for
    /// <paramref name="tenantId"/>. Throws <see cref="PromptException"/> when the prompt or version does not exist or
    /// nothing is active.
    /// </summary>
    public async Task<(Prompt Prompt, PromptVersion Version)> ResolveAsync(string name, Guid tenantId, int? versionNumber, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var slug = PromptCatalog.Slug(name);
        var prompt = await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == slug, ct)
            ?? throw new PromptException(PromptException.NotFound, $"There is no prompt named '{name}'.");
        if (versionNumber is { } n)
        {
            var explicitVersion = await db.PromptVersions.AsNoTracking().SingleOrDefaultAsync(v => v.PromptId == prompt.Id && v.Number == n, ct)
                ?? throw new PromptException(PromptException.VersionNotFound, $"The prompt '{prompt.Name}' has no version {n}.");
            return (prompt, explicitVersion);
        }

        var activeId = await ActiveVersionIdAsync(db, prompt.Id, tenantId, ct)
            ?? throw new PromptException(PromptException.NotActive, $"The prompt '{prompt.Name}' has no active version.");
        var version = await db.PromptVersions.AsNoTracking().SingleAsync(v => v.Id == activeId, ct);
        return (prompt, version);
    }

    /// <summary>A version of the prompt named <paramref name="promptName"/> by id; throws when it is not one of that prompt's versions.</summary>
    public async Task<PromptVersion> VersionOfAsync(string promptName, Guid versionId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var slug = PromptCatalog.Slug(promptName);
        return await db.PromptVersions.AsNoTracking()
            .Where(v => v.Id == versionId && db.Prompts.Any(p => p.Id == v.PromptId && p.Name == slug))
            .SingleOrDefaultAsync(ct)
            ?? throw new PromptException(PromptException.VersionNotFound, $"That version does not belong to the prompt '{promptName}'.");
    }

    /// <summary>Resolves and renders in one go (the HTTP API, demo traffic).</summary>
    public async Task<RenderedPrompt> RenderAsync(string name, Guid tenantId, int? versionNumber, IReadOnlyDictionary<string, string> variables,
        CancellationToken ct)
    {
        var (prompt, version) = await ResolveAsync(name, tenantId, versionNumber, ct);
        return new RenderedPrompt(prompt.Name, version, Render(version, variables));
    }

    /// <summary>The name the response schema is sent under (providers require one; callers never see it).</summary>
    public const string ResponseSchemaName = "prompt_response";

    /// <summary>
    /// The gateway request for <paramref name="version"/> with <paramref name="variables"/>: a system message (when the
    /// version has one) and the user message, the version's alias, temperature, max tokens and response schema (as
    /// <c>response_format: json_schema</c>). The variables travel
    /// with the request into the (redacted) trace, so a replay can render them on another version.
    /// </summary>
    public static ChatRequest Render(PromptVersion version, IReadOnlyDictionary<string, string> variables)
    {
        PromptTemplate.EnsureVariables(variables, version.SystemTemplate, version.UserTemplate);
        var messages = new List<ChatMessage>(2);
        if (!string.IsNullOrWhiteSpace(version.SystemTemplate))
        {
            messages.Add(new ChatMessage("system", PromptTemplate.Render(version.SystemTemplate, variables)));
        }

        messages.Add(new ChatMessage("user", PromptTemplate.Render(version.UserTemplate, variables)));
        return new ChatRequest
        {
            Model = version.ModelAlias,
            Messages = messages,
            Temperature = version.Temperature,
            MaxTokens = version.MaxTokens,
            // Checked against the meta-schema when the version was saved; not strict, which would also demand
            // additionalProperties false on every object of the schema.
            ResponseFormat = ResponseSchemaCheck.Parse(version.ResponseSchema) is { } schema ? new ResponseFormat("json_schema", ResponseSchemaName, schema) : null,
            PromptVariables = new Dictionary<string, string>(variables, StringComparer.Ordinal),
        };
    }

    /// <summary>
    /// The active version id of a prompt for a tenant: the tenant's latest override row unless it removed the
    /// override, else the latest global row; null when nothing was ever activated.
    /// </summary>
    public static async Task<Guid?> ActiveVersionIdAsync(KeystoneDbContext db, Guid promptId, Guid? tenantId, CancellationToken ct)
    {
        if (tenantId is { } t)
        {
            var latestOverride = await db.PromptActivations.AsNoTracking()
                .Where(a => a.PromptId == promptId && a.TenantId == t)
                .OrderByDescending(a => a.Id)
                .Select(a => new { a.VersionId })
                .FirstOrDefaultAsync(ct);
            if (latestOverride?.VersionId is { } overridden)
            {
                return overridden;
            }
        }

        return await db.PromptActivations.AsNoTracking()
            .Where(a => a.PromptId == promptId && a.TenantId == null)
            .OrderByDescending(a => a.Id)
            .Select(a => a.VersionId)
            .FirstOrDefaultAsync(ct);
    }
}
