using Keystone.Data;
using Keystone.Gateway;
using Keystone.Web.Components;
using Keystone.Web.Components.Account;
using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Api;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Features.Audit;
using Keystone.Web.Features.Budgets;
using Keystone.Web.Features.Evals;
using Keystone.Web.Features.Home;
using Keystone.Web.Features.Caching;
using Keystone.Web.Features.Keys;
using Keystone.Web.Features.Knowledge;
using Keystone.Web.Features.Playground;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Features.Tenants;
using Keystone.Web.Features.Traces;
using Keystone.Web.Features.Dashboard;
using Keystone.Web.Features.Margin;
using Keystone.Web.Features.Usage;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using MudBlazor.Services;

// Before any thread of the host allocates: glibc's malloc held to two arenas (Hosting/NativeMemory.cs, decision 0053).
NativeMemory.LimitMallocArenas();

var builder = WebApplication.CreateBuilder(CommandLine.ConfigurationArguments(args));
builder.AddKeystoneConfiguration();

var (database, connections) = StartupSettings.ReadDatabase(builder.Configuration, builder.Environment.ContentRootPath);
builder.Services.AddKeystoneDatabaseOptions(database);
builder.Services.AddOptionsWithValidateOnStart<SeedOptions>().BindConfiguration(SeedOptions.SectionName).WithDemoDefaultPerDatabase();
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddKeystoneServerLimits();
builder.Services.AddKeystoneForwardedHeaders();
builder.Services.AddKeystoneRequestErrors();
builder.Services.AddKeystoneData(connections);
// The first hosted service: migrations or the check that --migrate ran, before Data Protection's key ring, Hangfire
// and the gateway touch the database; then the demo seed, under a lock shared by the instances.
builder.Services.AddKeystoneDatabaseStartup();
builder.Services.AddKeystoneDataProtection(database, connections);
builder.Services.AddKeystoneIdentity();
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.Services.AddMudServices();
builder.Services.AddHttpContextAccessor();

builder.Services.AddKeystonePlatform();
builder.Services.AddTenantsFeature();
builder.Services.AddAuditFeature();
// After the database start-up (it migrates before the price table is seeded). Includes the
// providers (AddKeystoneProviders); stopping the host drains the call recorder and the budget counters.
builder.Services.AddKeystoneGateway(builder.Configuration);
builder.Services.AddBudgetsFeature();
builder.Services.AddKeysFeature();
builder.Services.AddApiFeature();
builder.Services.AddPlaygroundFeature();
builder.Services.AddDashboardFeature();
builder.Services.AddMarginFeature();
builder.Services.AddUsageFeature();
builder.Services.AddCachingFeature();
builder.Services.AddTracesFeature();
builder.Services.AddPromptsFeature();
builder.Services.AddEvalsFeature();
builder.Services.AddAgentsFeature();
builder.Services.AddApprovalsFeature();
builder.Services.AddHomeFeature();
builder.Services.AddKnowledgeFeature();
// Memory given back when the process goes quiet after a burst (Hosting/MemoryTrim.cs, decision 0057).
builder.Services.AddKeystoneMemoryTrim();
// SQLite: the query planner's statistics refreshed hourly and after start (Hosting/PlannerStatisticsJob.cs, decision 0073).
builder.Services.AddKeystonePlannerStatistics(database);
// Last: hosted services start in this order and stop in the reverse, so the job server starts after the gateway and
// stops before it; a job still finishing a model call at shutdown can then settle and record it (the call recorder
// and the budget counters drain after the jobs, not before).
builder.Services.AddKeystoneHangfire(database, connections);

var app = builder.Build();

if (args.Contains("--migrate"))
{
    // Explicit migration (the PostgreSQL mode's documented step): migrate, force RLS, install Hangfire's schema, exit.
    await app.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);
    if (database.Provider == DatabaseProvider.Postgres)
    {
        HangfireSetup.InstallPostgresSchema(connections);
    }

    Console.WriteLine("Migrations applied.");
    return;
}

if (await app.RunPromptsCommandAsync(args)) return; // --export-prompts DIR (docs/prompts-as-files.md)
if (await KnowledgeEval.RunCommandAsync(app, args)) return; // --knowledge-eval [DIR] (docs/decisions/0038-knowledge-retrieval.md)
if (await app.RunEvalCommandAsync(args)) return; // eval PROMPT [--version N] [--alias A] [--min-score S] (docs/api.md)


// First: behind a trusted reverse proxy everything after this sees the client's address and scheme (ForwardedHeaders:*).
app.UseKeystoneForwardedHeaders();
if (!app.Environment.IsDevelopment())
{
    app.UseExceptionHandler("/Error", createScopeForErrors: true);
}

app.UseStatusCodePagesWithReExecute("/error/{0}");
app.UseNonGetErrorPages();
app.UseApiErrors();
app.UseAuthentication();
app.UseAuthorization();
app.UseApiLoadShedding();
app.UseAntiforgery();
app.UseAntiforgeryRefusals();

app.MapStaticAssets();
app.MapKeystoneHealth();
app.MapApiEndpoints();
app.MapTracesEndpoints();
app.MapBudgetsEndpoints();
app.MapKeysEndpoints();
app.MapCachingEndpoints();
app.MapUsageEndpoints();
app.MapMarginEndpoints();
app.MapAgentsEndpoints();
app.MapApprovalsEndpoints();
app.MapKnowledgeEndpoints();
app.MapEvalsEndpoints();
app.MapAccountEndpoints();
app.MapKeystoneHangfireDashboard();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();

await app.RunAsync();

/// <summary>The web host's entry point; public for <c>WebApplicationFactory&lt;Program&gt;</c>.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "WebApplicationFactory<Program> in the public test fixtures of Keystone.Testing needs a public entry point.")]
public partial class Program;
