using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using Keystone.Web.Tests.Hosting;
using Microsoft.AspNetCore.Components;

namespace Keystone.Web.Tests.Layout;

/// <summary>
/// Platform users land on "All tenants" (issue 21): every page they can open there either works across tenants or
/// offers the tenant pick on the page, never a dead end that sends them to the app bar. Every routable page of the
/// console (found by its <c>@page</c> directive, so a new page is checked without a list to maintain) is requested
/// over real HTTP by each platform role, with no tenant selected; the server-rendered HTML is read.
/// </summary>
public sealed partial class AllTenantsPagesTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    /// <summary>The pages that work inside one tenant only, and so must offer the pick.</summary>
    private static readonly string[] OneTenantPages = ["/playground", "/usage", "/budgets", "/caching", "/keys", "/members"];

    // The wording of the old dead ends: "switch into a tenant", "Switch to a tenant", "the switcher at the top",
    // "in the app bar to see".
    [GeneratedRegex(@"switch (in)?to a tenant|switcher at the top|in the app bar to see", RegexOptions.IgnoreCase)]
    private static partial Regex DeadEnd();

    public static TheoryData<string> PlatformUsers => ["founder@keystone.demo", "support@keystone.demo", "product@keystone.demo"];

    private static IEnumerable<string> Routes() => typeof(Keystone.Web.Features.Traces.TraceRow).Assembly.GetTypes()
        .SelectMany(t => t.GetCustomAttributes<RouteAttribute>())
        .Select(r => r.Template)
        .Where(t => !t.Contains('{', StringComparison.Ordinal) && !t.StartsWith("/Account", StringComparison.OrdinalIgnoreCase))
        .Distinct(StringComparer.OrdinalIgnoreCase);

    [Theory]
    [MemberData(nameof(PlatformUsers))]
    public async Task EveryPage_OnAllTenants_WorksOrOffersTheTenantPick_NeverADeadEnd(string email)
    {
        var client = await fixture.App.SignInAsync(email);
        var opened = new List<string>();

        foreach (var route in Routes())
        {
            using var response = await client.GetAsync(route);
            var html = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.Forbidden || html.Contains("data-test=\"forbidden\"", StringComparison.Ordinal))
            {
                continue; // Not a page of this role.
            }

            Assert.True(response.IsSuccessStatusCode, $"{email}: {route} answered {(int)response.StatusCode}");
            Assert.DoesNotMatch(DeadEnd(), html);
            if (OneTenantPages.Contains(route, StringComparer.OrdinalIgnoreCase))
            {
                Assert.Contains("data-test=\"tenant-pick\"", html, StringComparison.Ordinal);
                Assert.Contains("data-test=\"tenant-pick-select\"", html, StringComparison.Ordinal);
                Assert.Contains("Acme (", html, StringComparison.Ordinal);
            }

            opened.Add(route);
        }

        Assert.Contains("/playground", opened);
        Assert.Contains("/usage", opened);
        if (email.StartsWith("founder@", StringComparison.Ordinal))
        {
            Assert.Superset(OneTenantPages.ToHashSet(), opened.ToHashSet());
        }
    }

    [Fact]
    public async Task TenantPick_PostsTheAuditedSwitch_AndComesBackToThePage()
    {
        var client = await fixture.App.SignInAsync("founder@keystone.demo");
        var html = await client.GetStringAsync("/budgets");
        var value = Keystone.Testing.KeystoneAppFactory.AntiforgeryTokenOf(html[html.IndexOf("data-test=\"tenant-pick\"", StringComparison.Ordinal)..]);
        Assert.NotEmpty(value);

        using var switched = await client.PostAsync("/Account/SwitchTenant", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = value,
            ["tenantId"] = Keystone.Web.Platform.DemoData.AcmeId.ToString(),
            ["returnUrl"] = "/budgets",
        }));

        Assert.Equal(HttpStatusCode.Redirect, switched.StatusCode);
        Assert.Equal("/budgets", switched.Headers.Location?.OriginalString);
        try
        {
            var after = await client.GetStringAsync("/budgets");
            Assert.DoesNotContain("data-test=\"tenant-pick\"", after, StringComparison.Ordinal);
            Assert.Contains("Acme", after, StringComparison.Ordinal);
        }
        finally
        {
            // Back to All tenants: the other tests of this class read the founder there.
            var home = await client.GetStringAsync("/");
            using var back = await client.PostAsync("/Account/SwitchTenant", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["__RequestVerificationToken"] = Keystone.Testing.KeystoneAppFactory.AntiforgeryTokenOf(home),
                ["tenantId"] = "",
                ["returnUrl"] = "/",
            }));
            Assert.Equal(HttpStatusCode.Redirect, back.StatusCode);
        }
    }
}
