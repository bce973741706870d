using Keystone.Web.Platform;
using Bunit;
using Keystone.Data;
using Keystone.Data.Identity;
using Keystone.Gateway;
using Keystone.Testing;
using Keystone.Web.Features.Knowledge;
using Keystone.Web.Features.Playground;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Playground;

/// <summary>
/// The playground page over the real gateway (<c>AddKeystoneGateway</c>, built-in simulated provider) and a real
/// SQLite database; Acme's member is signed in. Per-request behaviour comes from the simulated provider's markers.
/// </summary>
public abstract class PlaygroundPageTestBase : KeystoneComponentTest, IAsyncLifetime
{
    protected const string UserId = "user-ada";

    private readonly List<IHostedService> _hosted = [];

    protected SqliteTestDatabase Database { get; private set; } = default!;

    protected KeystoneDbFactory Factory { get; private set; } = default!;

    /// <summary>Roles of the signed-in user; a platform role leaves the tenant unselected.</summary>
    protected virtual string Role => Roles.TenantMember;

    /// <summary>The clock of the page, the gateway and the simulated provider (a test can drive a fake one).</summary>
    protected virtual TimeProvider Clock => TimeProvider.System;

    public async Task InitializeAsync()
    {
        Database = await SqliteTestDatabase.CreateAsync();
        Factory = Database.CreateFactory();
        await PlaygroundTestData.SeedTenantsAsync(Factory);

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:Aliases:fast:0"] = "sim/sim-fast",
            ["Gateway:Aliases:smart:0"] = "sim/sim-smart",
        }).Build();
        Services.AddSingleton<IConfiguration>(configuration);
        Services.AddSingleton(Options.Create(Database.Options));
        Services.AddKeystoneData(Database.Connections);
        Services.AddLogging();
        Services.AddDataProtection();
        Services.AddSingleton(Clock);
        Services.AddKeystoneGateway(configuration);
        Services.AddScoped<TenantContext>();
        Services.AddScoped<ITenantContext>(sp => sp.GetRequiredService<TenantContext>());
        Services.AddPlaygroundFeature();
        Services.AddScoped<TenantDirectory>();
        Services.AddKnowledgeFeature();

        var auth = AddAuthorization();
        auth.SetAuthorized("ada@acme.test");
        auth.SetRoles(Role);
        auth.SetClaims(Roles.Tenant.Contains(Role)
            ? PlaygroundTestData.TenantClaims(UserId, DemoData.AcmeId)
            : [new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.NameIdentifier, UserId)]);

        foreach (var hosted in Services.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None);
            _hosted.Add(hosted);
        }
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Database.DisposeAsync();
    }

    /// <summary>Drains the gateway's recorder (its stop writes everything queued) so call rows can be read.</summary>
    protected async Task FlushRecorderAsync()
    {
        foreach (var hosted in _hosted)
        {
            await hosted.StopAsync(CancellationToken.None);
        }

        _hosted.Clear();
    }

    protected IBudgetService Budgets => Services.GetRequiredService<IBudgetService>();

    protected static void Type(IRenderedComponent<PlaygroundPage> page, string text)
        => page.Find("[data-test=composer]").Input(text);
}
