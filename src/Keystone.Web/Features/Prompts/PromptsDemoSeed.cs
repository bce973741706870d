using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Prompts;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Prompts;

/// <summary>
/// The demo prompt <c>support-reply</c>: three versions, v1 then v2 activated globally (so the history and a rollback
/// have something to show), and v3 as Acme's override. Idempotent: nothing happens once the prompt exists.
/// </summary>
internal sealed class PromptsDemoSeed(KeystoneDbFactory dbFactory, TimeProvider clock, ILogger<PromptsDemoSeed> log) : IDemoSeedStep
{
    /// <summary>The demo prompt's name.</summary>
    public const string SupportReply = "support-reply";

    /// <summary>After the tenants (0), before the demo traffic (100).</summary>
    public int Order => 10;

    public async Task RunAsync(CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        if (await db.Prompts.AnyAsync(p => p.Name == SupportReply, ct))
        {
            return;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var prompt = new Prompt
        {
            Id = Guid.NewGuid(),
            Name = SupportReply,
            Description = "Answers an end customer's support question in the tenant's voice.",
            CreatedUtc = now.AddDays(-20),
        };
        var v1 = Version(prompt, 1, now.AddDays(-20), "First draft.",
            "You are the customer support assistant of {{company}}. Be brief and friendly.",
            "{{question}}");
        var v2 = Version(prompt, 2, now.AddDays(-9), "Address the customer by name; at most three sentences; offer a human hand-over when unsure.",
            "You are {{company}}'s support assistant. Answer in at most three sentences, friendly and concrete. If you are not sure, offer to hand the case to a human colleague.",
            "Customer {{customer_name}} asks: {{question}}");
        var v3 = Version(prompt, 3, now.AddDays(-2), "Acme: quote the order number and sign as Acme Support.",
            "You are {{company}}'s support assistant. Answer in at most three sentences, friendly and concrete. Quote the order number when the customer gives one, and sign as \"{{company}} Support\".",
            "Customer {{customer_name}} asks: {{question}}");
        db.Prompts.Add(prompt);
        db.PromptVersions.AddRange(v1, v2, v3);
        await db.SaveChangesAsync(ct);
        // Separate saves keep the history's order (ids ascend in activation order).
        foreach (var (versionId, tenantId, at) in new (Guid, Guid?, DateTime)[]
                 {
                     (v1.Id, null, now.AddDays(-20)), (v2.Id, null, now.AddDays(-9)), (v3.Id, DemoData.AcmeId, now.AddDays(-2)),
                 })
        {
            db.PromptActivations.Add(new PromptActivation
            {
                PromptId = prompt.Id,
                TenantId = tenantId,
                VersionId = versionId,
                ActivatedByUserId = "demo-seed",
                ActivatedByName = "product@keystone.demo",
                ActivatedUtc = at,
            });
            await db.SaveChangesAsync(ct);
        }

        log.LogInformation("Seeded the demo prompt {Prompt}", SupportReply);
    }

    private static PromptVersion Version(Prompt prompt, int number, DateTime at, string note, string system, string user) => new()
    {
        Id = Guid.NewGuid(),
        PromptId = prompt.Id,
        Number = number,
        SystemTemplate = system,
        UserTemplate = user,
        ModelAlias = "smart",
        MaxTokens = 120,
        Note = note,
        CreatedByUserId = "demo-seed",
        CreatedByName = "product@keystone.demo",
        CreatedUtc = at,
    };
}
