using Keystone.Web.Platform;
using System.Security.Claims;
using Keystone.Data.Identity;
using Keystone.Data.Prompts;
using Keystone.Gateway;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Web.Features.Prompts;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Prompts;

/// <summary>Creates test prompts through the real catalog and calls them through the real gateway of a running app.</summary>
internal static class PromptTestSetup
{
    public static ClaimsPrincipal Principal(string role, string email) => new(new ClaimsIdentity(
    [
        new Claim(ClaimTypes.NameIdentifier, $"{role}-user-id"),
        new Claim(ClaimTypes.Email, email),
        new Claim(ClaimTypes.Role, role),
    ], "test"));

    public static AsyncServiceScope ScopeAs(KeystoneAppFactory app, string role, string email) => ScopeAs(app, Principal(role, email));

    /// <summary>A scope of the app whose tenant context is signed in as <paramref name="user"/>.</summary>
    public static AsyncServiceScope ScopeAs(KeystoneAppFactory app, ClaimsPrincipal user)
    {
        var scope = app.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(user);
        return scope;
    }

    /// <summary>A new prompt with v1 (active globally) and v2, whose templates are told apart by their "V1"/"V2" prefixes.</summary>
    public static async Task<(string Name, PromptVersion V1, PromptVersion V2)> CreateTwoVersionPromptAsync(KeystoneAppFactory app)
    {
        await using var scope = ScopeAs(app, Roles.PromptEditor, "product@keystone.demo");
        var catalog = scope.ServiceProvider.GetRequiredService<PromptCatalog>();
        var name = $"t-{Guid.NewGuid():N}"[..16];
        await catalog.CreatePromptAsync(name, "test", new NewPromptVersion("V1 system for {{company}}.", "V1: {{question}}", "smart", null, 60, null), CancellationToken.None);
        var v2 = await catalog.CreateVersionAsync(name, new NewPromptVersion("V2 system for {{company}}.", "V2 asks {{question}} for {{company}}", "smart", 0.1, 70, "v2"), CancellationToken.None);
        await catalog.ActivateAsync(name, 1, null, CancellationToken.None);
        var detail = await catalog.GetAsync(name, CancellationToken.None);
        return (name, detail!.Versions.Single(v => v.Number == 1), v2);
    }

    /// <summary>Calls the prompt's active version for Acme through the gateway and waits until the call is recorded.</summary>
    public static async Task<ChatResult> CallAsync(KeystoneAppFactory app, string name, IReadOnlyDictionary<string, string> variables, string endUser)
    {
        var rendered = await app.Services.GetRequiredService<PromptRenderer>().RenderAsync(name, DemoData.AcmeId, null, variables, CancellationToken.None);
        var result = await app.Services.GetRequiredService<ILlmGateway>().CompleteAsync(rendered.Request,
            rendered.Apply(new CallContext { TenantId = DemoData.AcmeId, EndUser = endUser, Feature = "support.chat" }), CancellationToken.None);
        await app.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        return result;
    }
}
