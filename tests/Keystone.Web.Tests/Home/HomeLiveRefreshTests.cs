using System.Globalization;
using System.Security.Claims;
using Bunit;
using Keystone.Data.Calls;
using Keystone.Data.Identity;
using Keystone.Web.Features.Home;
using Keystone.Web.Features.Usage;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Home;

/// <summary>
/// Home reads its numbers again on the usage pages' interval while it is open (the console's live-update rule):
/// the real app's queries over SQLite, the page's own clock fake so the refresh can be driven; the app keeps real time.
/// </summary>
public sealed class HomeLiveRefreshTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;
    private readonly FakeTimeProvider _pageClock = new(DateTimeOffset.UtcNow);

    public HomeLiveRefreshTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = fixture.App.Services.CreateAsyncScope();
        var tenant = _scope.ServiceProvider.GetRequiredService<TenantContext>();
        tenant.SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new(ClaimTypes.NameIdentifier, "test-support"),
            new(ClaimTypes.Role, Roles.Support),
            new(KeystoneClaims.DisplayName, "Sam Support"),
        ], "test")));
        Services.AddSingleton(tenant);
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<HomeQueries>());
        Services.AddSingleton<TimeProvider>(_pageClock);
        Services.AddSingleton(Options.Create(new UsageOptions()));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    private static int FailedToday(IRenderedComponent<HomePage> page)
        => int.Parse(page.Find("[data-test=home-failed-today]").TextContent.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1],
            NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

    [Fact]
    public async Task Support_AFailedCallShowsOnTheNextRefresh_WithoutAReload()
    {
        var page = Render<HomePage>();
        page.WaitForElement("[data-test=home-failed-today]", Wait);
        var before = FailedToday(page);
        var firstRead = page.Find("[data-test=home-refresh]").TextContent;
        Assert.Contains($"Refreshes every {new UsageOptions().UsageRefreshSeconds} s", firstRead, StringComparison.Ordinal);
        Assert.Contains($"updated {_pageClock.GetUtcNow():HH:mm:ss} UTC", firstRead, StringComparison.Ordinal);

        var row = Call(DemoData.GlobexId, DateTime.UtcNow.AddMinutes(-1), "live question", "live answer", c =>
        {
            c.Status = CallStatus.Error;
            c.ErrorCode = "upstream_timeout";
            c.Feature = "home-live";
        });
        await using (var db = _fixture.App.CreateSystemDb())
        {
            db.Calls.Add(row.Call);
            db.Traces.Add(row.Trace);
            await db.SaveChangesAsync();
        }

        _pageClock.Advance(TimeSpan.FromSeconds(new UsageOptions().UsageRefreshSeconds));

        page.WaitForAssertion(() =>
        {
            Assert.Equal(before + 1, FailedToday(page));
            Assert.Contains("upstream_timeout", page.Find("[data-test=home-failed]").TextContent, StringComparison.Ordinal);
            Assert.Contains($"updated {_pageClock.GetUtcNow():HH:mm:ss} UTC", page.Find("[data-test=home-refresh]").TextContent, StringComparison.Ordinal);
        }, Wait);
    }
}
