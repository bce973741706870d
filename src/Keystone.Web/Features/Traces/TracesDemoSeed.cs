using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Gateway;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// Demo conversations for the trace pages, made through the real gateway (the simulated provider in the
/// embedded mode), so support has something to find, read and replay. A hosted service rather than an
/// <see cref="IDemoSeedStep"/>: it must run after the gateway's price table is loaded, which happens after the
/// database start-up. Idempotent: it does nothing once its conversations exist.
/// </summary>
internal sealed class TracesDemoSeed(
    IServiceProvider services,
    IOptions<SeedOptions> seed,
    ILogger<TracesDemoSeed> log) : IHostedService
{
    /// <summary>The feature label of the demo support conversations.</summary>
    public const string Feature = "support.chat";

    /// <summary>The demo conversations: tenant, end user, feature, alias, user message.</summary>
    public static readonly IReadOnlyList<(Guid Tenant, string EndUser, string Feature, string Alias, string Prompt)> Conversations =
    [
        (DemoData.AcmeId, "acme-cust-1017", Feature, "smart", "My espresso machine is leaking water from the bottom. It is the Barista Pro I bought in March. What should I do?"),
        (DemoData.AcmeId, "acme-cust-1017", Feature, "smart", "The leak started right after I descaled it. Is the warranty still valid?"),
        (DemoData.AcmeId, "acme-cust-2044", Feature, "fast", "Can I change the delivery address for order 55812 to my office?"),
        (DemoData.AcmeId, "acme-cust-2044", Feature, "fast", "Please email the invoice for order 55812 to maria.lopez@example.com"),
        (DemoData.AcmeId, "acme-cust-3090", "marketing.copy", "smart", "Write a short, cheerful product blurb for our new two-slot toaster."),
        (DemoData.GlobexId, "globex-user-7", "reports.summary", "fast", "Summarize the quarterly logistics report in three bullet points."),
        (DemoData.InitechId, "initech-ops", Feature, "smart", "Draft a polite reply to a customer asking for a refund on a TPS report license."),
    ];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Demo is resolved at registration (on by default in the embedded mode, SeedOptionsSetup).
        if (seed.Value.Demo != true || services.GetService<ILlmGateway>() is not { } gateway)
        {
            return;
        }

        // Under the instances' seed lock, and written before it is released, so another instance starting at the same
        // time finds these conversations instead of recording them a second time.
        await using var held = await services.GetRequiredService<IDemoSeedLock>().AcquireAsync(cancellationToken);
        await SeedAsync(gateway, cancellationToken);
        await services.GetRequiredService<IRecordedCalls>().FlushAsync(cancellationToken);
    }

    private async Task SeedAsync(ILlmGateway gateway, CancellationToken cancellationToken)
    {
        var factory = services.GetRequiredService<KeystoneDbFactory>();
        await using (var db = factory.ForSystem())
        {
            if (await db.Calls.AnyAsync(c => c.EndUser == "acme-cust-1017", cancellationToken))
            {
                return;
            }
        }

        var prompts = services.GetRequiredService<PromptRenderer>();
        string? tenantName = null;
        foreach (var c in Conversations)
        {
            try
            {
                var context = new CallContext { TenantId = c.Tenant, EndUser = c.EndUser, Feature = c.Feature };
                var request = new ChatRequest
                {
                    Model = c.Alias,
                    Messages = [new ChatMessage("system", "You are the customer support assistant. Be brief and friendly."), new ChatMessage("user", c.Prompt)],
                    MaxTokens = 80,
                };
                if (c.Feature == Feature)
                {
                    // Support chats go through the managed prompt (Acme gets its override), so their traces carry the prompt
                    // version and its variables, and support can replay them on another version.
                    await using (var db = factory.ForSystem())
                    {
                        tenantName = await db.Tenants.Where(t => t.Id == c.Tenant).Select(t => t.Name).FirstOrDefaultAsync(cancellationToken);
                    }

                    var rendered = await TryRenderAsync(prompts, c.Tenant, new Dictionary<string, string>
                    {
                        ["company"] = tenantName ?? "our company",
                        ["customer_name"] = c.EndUser,
                        ["question"] = c.Prompt,
                    }, cancellationToken);
                    if (rendered is not null)
                    {
                        request = rendered.Request;
                        context = rendered.Apply(context);
                    }
                }

                await gateway.CompleteAsync(request, context, cancellationToken);
            }
            catch (GatewayException ex)
            {
                log.LogWarning("Demo trace for {TenantId} not recorded: {Code}", c.Tenant, ex.Error.Code);
            }
        }

        log.LogInformation("Demo traces recorded: {Count} conversations", Conversations.Count);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task<RenderedPrompt?> TryRenderAsync(PromptRenderer prompts, Guid tenantId, Dictionary<string, string> variables, CancellationToken ct)
    {
        try
        {
            return await prompts.RenderAsync(PromptsDemoSeed.SupportReply, tenantId, null, variables, ct);
        }
        catch (PromptException ex)
        {
            // The prompt seed did not run (or the prompt was changed): record the plain demo chat instead.
            log.LogWarning("Demo support chat without the managed prompt: {Code}", ex.Code);
            return null;
        }
    }
}
