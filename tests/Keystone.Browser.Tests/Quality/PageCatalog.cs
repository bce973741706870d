using System.Text.RegularExpressions;

namespace Keystone.Browser.Tests.Quality;

/// <summary>
/// Every routable page of the console, read from the <c>@page</c> directives of the web project's Razor files, so a
/// new page is checked without anyone adding it to a list. Routes with parameters are matched against the links the
/// checked pages show (a trace row, a tenant's margin, a prompt), which gives each a real sample.
/// </summary>
internal static partial class PageCatalog
{
    public sealed record Route(string Template, bool IsPublic)
    {
        public bool HasParameters => Template.Contains('{', StringComparison.Ordinal);

        /// <summary>A regex matching a concrete path of this template: a parameter is one path segment of its constraint's shape.</summary>
        public Regex PathPattern { get; } = new(
            "^" + ParameterPattern().Replace(Regex.Escape(Template).Replace(@"\{", "{", StringComparison.Ordinal), m => Segment(m.Value)) + "$",
            RegexOptions.IgnoreCase);

        private static string Segment(string parameter) => parameter switch
        {
            _ when parameter.EndsWith(":guid}", StringComparison.OrdinalIgnoreCase) => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            _ when parameter.EndsWith(":int}", StringComparison.OrdinalIgnoreCase) => "[0-9]+",
            _ => "[^/?#.]+",
        };
    }

    public static IReadOnlyList<Route> All { get; } = Load();

    private static List<Route> Load()
    {
        var web = Path.Combine(BrowserFixture.RepositoryRoot(), "src", "Keystone.Web");
        var routes = new List<Route>();
        foreach (var file in Directory.EnumerateFiles(web, "*.razor", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var text = File.ReadAllText(file);
            var isPublic = !text.Contains("[Authorize", StringComparison.Ordinal);
            foreach (Match m in PageDirective().Matches(text))
            {
                routes.Add(new Route(m.Groups[1].Value, isPublic));
            }
        }

        if (routes.Count < 10)
        {
            throw new InvalidOperationException($"Only {routes.Count} @page routes found under {web}: the catalog is reading the wrong place.");
        }

        return routes;
    }

    [GeneratedRegex("""^@page\s+"([^"]+)"\s*$""", RegexOptions.Multiline)]
    private static partial Regex PageDirective();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex ParameterPattern();
}
