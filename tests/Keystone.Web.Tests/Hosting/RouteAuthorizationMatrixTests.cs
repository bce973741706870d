using Keystone.Web.Platform;
using System.Net;
using System.Reflection;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Web.Hosting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components;

namespace Keystone.Web.Tests.Hosting;

/// <summary>
/// Every routable page × every demo role (and anonymous): the expected 200, 403 or redirect to sign-in.
/// Generated from the pages' own attributes, so a new page is covered the moment it exists.
/// </summary>
public sealed class RouteAuthorizationMatrixTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private static readonly Dictionary<string, string> UserForRole = DemoData.Users
        .GroupBy(u => u.Role).ToDictionary(g => g.Key, g => g.First().Email);

    /// <summary>Non-Blazor console routes that are part of the matrix too.</summary>
    private static readonly (string Route, string Policy)[] ExtraRoutes = [("/admin/jobs", Policies.PlatformAdmin)];

    public sealed record PageCase(string Route, string? Policy, bool Anonymous, bool HasParameters)
    {
        public override string ToString() => Route;
    }

    public static IEnumerable<PageCase> Pages()
    {
        foreach (var type in typeof(Program).Assembly.GetTypes().Where(t => typeof(IComponent).IsAssignableFrom(t)))
        {
            foreach (var route in type.GetCustomAttributes<RouteAttribute>())
            {
                var anonymous = type.GetCustomAttribute<AllowAnonymousAttribute>() is not null;
                var policy = type.GetCustomAttribute<AuthorizeAttribute>()?.Policy;
                yield return new PageCase(route.Template, policy, anonymous, route.Template.Contains('{'));
            }
        }

        foreach (var (route, policy) in ExtraRoutes)
        {
            yield return new PageCase(route, policy, false, false);
        }
    }

    public static TheoryData<string, string> Matrix()
    {
        var data = new TheoryData<string, string>();
        foreach (var page in Pages())
        {
            foreach (var role in Roles.All.Append("anonymous"))
            {
                data.Add(page.Route, role);
            }
        }

        return data;
    }

    [Fact]
    public void Pages_EveryPage_DeclaresItsAccess()
    {
        var undeclared = Pages().Where(p => !p.Anonymous && p.Policy is null).Select(p => p.Route).ToList();

        Assert.Empty(undeclared);
        Assert.All(Pages().Where(p => p.Policy is not null), p => Assert.True(Policies.RolesFor.ContainsKey(p.Policy!), $"{p.Route} uses unknown policy {p.Policy}"));
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Get_PageAsRole_AnswersAsPolicySays(string route, string role)
    {
        var page = Pages().First(p => p.Route == route);
        var url = SampleUrl(route);
        var client = role == "anonymous"
            ? fixture.App.CreateBrowserLikeClient()
            : await fixture.App.SignInAsync(UserForRole[role]);

        var response = await client.GetAsync(url);

        var status = response.StatusCode;
        if (page.Anonymous)
        {
            Assert.True(status == HttpStatusCode.OK || (page.HasParameters && status == HttpStatusCode.NotFound), $"{url} as {role}: {status}");
        }
        else if (role == "anonymous")
        {
            Assert.Equal(HttpStatusCode.Redirect, status);
            Assert.StartsWith("/Account/Login", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        }
        else if (Policies.RolesFor[page.Policy!].Contains(role))
        {
            Assert.True(status == HttpStatusCode.OK || (page.HasParameters && status == HttpStatusCode.NotFound), $"{url} as {role}: {status}");
        }
        else
        {
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Contains("403", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    // Route parameters get a value of their constraint's type; pages must answer 404 for records that do not exist.
    private static string SampleUrl(string template) => System.Text.RegularExpressions.Regex.Replace(template, "\\{([^}:]+)(:([^}]+))?\\}", m =>
        m.Groups[3].Value switch
        {
            "int" => "404",
            "guid" => Guid.Empty.ToString(),
            _ => "sample",
        });
}
