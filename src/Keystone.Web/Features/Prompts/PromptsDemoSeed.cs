using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Prompts;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Prompts;

/// <summary>
/// The demo prompt <c>support-reply</c>: its three versions come from the repository's <c>prompts/support-reply/</c>
/// files (imported here first, so the activations have something to point at); this step only activates them — v1
/// then v2 globally (so the history and a rollback have something to show) and v3 as Acme's override. Idempotent:
/// nothing happens once the prompt has an activation.
/// </summary>
internal sealed class PromptsDemoSeed(KeystoneDbFactory dbFactory, PromptFileImporter files, TimeProvider clock, ILogger<PromptsDemoSeed> log) : IDemoSeedStep
{
    /// <summary>The demo prompt's name.</summary>
    public const string SupportReply = "support-reply";

    /// <summary>After the tenants (0), before the demo traffic (100).</summary>
    public int Order => 10;

    public async Task RunAsync(CancellationToken ct)
    {
        await files.ImportAsync(ct);
        await using var db = dbFactory.ForSystem();
        var prompt = await db.Prompts.SingleOrDefaultAsync(p => p.Name == SupportReply, ct);
        if (prompt is null)
        {
            log.LogWarning("The demo prompt {Prompt} has no files in the prompts folder; nothing to activate", SupportReply);
            return;
        }

        if (await db.PromptActivations.AnyAsync(a => a.PromptId == prompt.Id, ct))
        {
            return;
        }

        var versions = await db.PromptVersions.Where(v => v.PromptId == prompt.Id && v.Number <= 3).ToDictionaryAsync(v => v.Number, v => v.Id, ct);
        if (versions.Count < 3)
        {
            log.LogWarning("The demo prompt {Prompt} needs versions 1 to 3; nothing activated", SupportReply);
            return;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        // Separate saves keep the history's order (ids ascend in activation order).
        foreach (var (number, tenantId, at) in new (int, Guid?, DateTime)[]
                 {
                     (1, null, now.AddDays(-20)), (2, null, now.AddDays(-9)), (3, DemoData.AcmeId, now.AddDays(-2)),
                 })
        {
            db.PromptActivations.Add(new PromptActivation
            {
                PromptId = prompt.Id,
                TenantId = tenantId,
                VersionId = versions[number],
                ActivatedByUserId = "demo-seed",
                ActivatedByName = "product@keystone.demo",
                ActivatedUtc = at,
            });
            await db.SaveChangesAsync(ct);
        }

        if (prompt.SampleVariables is null || PromptCatalog.SamplesOf(prompt).Values.All(string.IsNullOrEmpty))
        {
            prompt.SampleVariables = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["company"] = "Acme",
                ["customer_name"] = "Jordan",
                ["question"] = "My order A-1042 has not arrived yet. Can you check where it is?",
            });
            await db.SaveChangesAsync(ct);
        }

        log.LogInformation("Activated the demo prompt {Prompt}", SupportReply);
    }
}
