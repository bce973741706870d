using System.Reflection;
using System.Runtime.CompilerServices;
using Keystone.Data;
using Keystone.Gateway;
using Microsoft.AspNetCore.Components;
using NetArchTest.Rules;

namespace Keystone.Web.Tests.Architecture;

/// <summary>
/// The shape of the house (docs/architecture.md), read from the compiled assemblies so that a change that breaks it
/// fails the build's tests: the projects reference each other one way, features depend on each other only along
/// the edges listed here (which form no cycle), never on another feature's internals, and the shared services
/// under <c>Platform/</c>, <c>Components/</c> and <c>Hosting/</c> depend on no feature.
/// </summary>
public sealed class ArchitectureTests
{
    private const string FeaturesNamespace = "Keystone.Web.Features.";

    private static readonly Assembly Web = typeof(Program).Assembly;

    /// <summary>
    /// Every dependency one feature may have on another. A new edge is a design decision: add it here (the test
    /// below refuses it if it closes a cycle) and say why in the review.
    /// </summary>
    private static readonly Dictionary<string, string[]> AllowedFeatureDependencies = new(StringComparer.Ordinal)
    {
        // Agents ask for approval through ApprovalContracts, and an agent's system prompt is a managed prompt version.
        ["Agents"] = ["Approvals", "Knowledge", "Prompts"],
        // The OpenAI-compatible protocol authenticates keys (Keys) and renders managed prompts (Prompts).
        ["Api"] = ["Keys", "Prompts"],
        // Approvals stores and decides pending actions; requesters reach it only through ApprovalContracts.
        ["Approvals"] = [],
        ["Audit"] = [],
        // The budgets page refreshes its spend on the usage pages' interval (Dashboards:UsageRefreshSeconds).
        ["Budgets"] = ["Usage"],
        // The caching page shows each feature's calls, hits and savings from the usage reads.
        ["Caching"] = ["Usage"],
        // The founder's home: usage from Usage, revenue and margin from Margin.
        ["Dashboard"] = ["Margin", "Usage"],
        // Eval sets belong to managed prompts; runs render their versions through the gateway; comparing two runs
        // projects the saving at a feature's real traffic from the usage reads.
        ["Evals"] = ["Prompts", "Usage"],
        // Each role's home page reads the numbers of that role's own pages: margin, usage and the prompt list.
        ["Home"] = ["Margin", "Prompts", "Usage"],
        ["Keys"] = [],
        ["Knowledge"] = [],
        // Revenue is computed from the usage rollups.
        ["Margin"] = ["Usage"],
        // "Use knowledge" sends the tenant's cited passages with the question; agent mode starts and follows agent runs.
        ["Playground"] = ["Agents", "Knowledge"],
        ["Prompts"] = [],
        ["Tenants"] = [],
        // A trace's prompt version links to its prompt; replay renders prompt versions.
        // "Save as eval example" lands in the prompt's eval set (Evals).
        ["Traces"] = ["Evals", "Prompts"],
        ["Usage"] = [],
    };

    [Fact]
    public void Gateway_never_references_the_web_project()
    {
        var references = typeof(ILlmGateway).Assembly.GetReferencedAssemblies().Select(a => a.Name);

        Assert.DoesNotContain("Keystone.Web", references);
    }

    [Fact]
    public void Data_references_neither_the_gateway_nor_the_web_project()
    {
        var references = typeof(KeystoneDbContext).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();

        Assert.DoesNotContain("Keystone.Gateway", references);
        Assert.DoesNotContain("Keystone.Web", references);
    }

    [Fact]
    public void The_web_project_sees_no_internals_of_the_gateway_or_the_data_project()
    {
        // The gateway publishes what the web needs (Abstractions/) instead of opening its internals.
        Assert.DoesNotContain("Keystone.Web", InternalsVisibleTo(typeof(ILlmGateway).Assembly));
        Assert.DoesNotContain("Keystone.Web", InternalsVisibleTo(typeof(KeystoneDbContext).Assembly));
    }

    [Fact]
    public void Every_feature_is_listed_in_the_allowed_dependencies()
    {
        Assert.Equal(AllowedFeatureDependencies.Keys.Order(StringComparer.Ordinal), Features().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_allowed_feature_dependencies_form_no_cycle()
    {
        Assert.Null(FindCycle(AllowedFeatureDependencies));
    }

    [Fact]
    public void The_cycle_finder_finds_a_cycle_three_features_long()
    {
        // Guards the guard: a finder that never reports would let every cycle through.
        var graph = new Dictionary<string, string[]> { ["A"] = ["B"], ["B"] = ["C"], ["C"] = ["A"], ["D"] = ["A"] };

        var cycle = FindCycle(graph);

        Assert.NotNull(cycle);
        Assert.Equal(["A", "B", "C", "A"], cycle);
    }

    public static TheoryData<string> FeatureNames() => [.. Features().Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(FeatureNames))]
    public void A_feature_depends_only_on_the_features_it_is_allowed_to(string feature)
    {
        var allowed = AllowedFeatureDependencies.GetValueOrDefault(feature, []);
        var forbidden = Features().Where(f => f != feature && !allowed.Contains(f)).Select(f => FeaturesNamespace + f).ToArray();

        var result = Types.InAssembly(Web).That().ResideInNamespace(FeaturesNamespace + feature)
            .ShouldNot().HaveDependencyOnAny(forbidden).GetResult();

        Assert.True(result.IsSuccessful, $"{feature} depends on a feature it may not use: {Describe(result)}");
    }

    [Theory]
    [MemberData(nameof(FeatureNames))]
    public void No_feature_uses_another_features_internals(string feature)
    {
        // A feature may use another's services and records; its pages, endpoints, jobs, registration and per-database
        // implementations are its own business.
        var internals = Features().Where(f => f != feature).SelectMany(InternalsOf).ToArray();

        var result = Types.InAssembly(Web).That().ResideInNamespace(FeaturesNamespace + feature)
            .ShouldNot().HaveDependencyOnAny(internals).GetResult();

        Assert.True(result.IsSuccessful, $"{feature} uses another feature's internals: {Describe(result)}");
    }

    [Theory]
    [InlineData("Keystone.Web.Platform")]
    [InlineData("Keystone.Web.Components")]
    [InlineData("Keystone.Web.Hosting")]
    public void Shared_folders_depend_on_no_feature(string folder)
    {
        // What every feature uses sits below all of them; only Program.cs wires the features in.
        var result = Types.InAssembly(Web).That().ResideInNamespace(folder)
            .ShouldNot().HaveDependencyOn("Keystone.Web.Features").GetResult();

        Assert.True(result.IsSuccessful, $"{folder} must stay below the features: {Describe(result)}");
    }

    private static IEnumerable<string> Features() => Web.GetTypes()
        .Select(t => t.Namespace)
        .OfType<string>()
        .Where(n => n.StartsWith(FeaturesNamespace, StringComparison.Ordinal))
        .Select(n => n[FeaturesNamespace.Length..].Split('.')[0])
        .Distinct(StringComparer.Ordinal);

    private static IEnumerable<string> InternalsOf(string feature) => Web.GetTypes()
        .Where(t => t.Namespace is { } n && (n == FeaturesNamespace + feature || n.StartsWith(FeaturesNamespace + feature + ".", StringComparison.Ordinal)))
        .Where(t => !t.IsNested && IsInternal(t))
        .Select(t => t.FullName!);

    private static bool IsInternal(Type type) =>
        type.GetCustomAttributes<RouteAttribute>().Any()
        || type.Name.EndsWith("Endpoints", StringComparison.Ordinal)
        || type.Name.EndsWith("Endpoint", StringComparison.Ordinal)
        || type.Name.EndsWith("Job", StringComparison.Ordinal)
        || type.Name.EndsWith("Feature", StringComparison.Ordinal)
        || type.Name.StartsWith("Sqlite", StringComparison.Ordinal)
        || type.Name.StartsWith("Postgres", StringComparison.Ordinal);

    private static IEnumerable<string?> InternalsVisibleTo(Assembly assembly) =>
        assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName.Split(',')[0]);

    private static string Describe(TestResult result) => string.Join(", ", result.FailingTypeNames ?? []);

    /// <summary>The first cycle found by a depth-first walk, as the path that closes it; null when there is none.</summary>
    internal static List<string>? FindCycle(IReadOnlyDictionary<string, string[]> graph)
    {
        var done = new HashSet<string>(StringComparer.Ordinal);
        var path = new List<string>();

        List<string>? Visit(string node)
        {
            var at = path.IndexOf(node);
            if (at >= 0)
            {
                return [.. path[at..], node];
            }

            if (!done.Add(node))
            {
                return null;
            }

            path.Add(node);
            foreach (var next in graph.GetValueOrDefault(node, []))
            {
                if (Visit(next) is { } cycle)
                {
                    return cycle;
                }
            }

            path.RemoveAt(path.Count - 1);
            return null;
        }

        foreach (var node in graph.Keys.Order(StringComparer.Ordinal))
        {
            if (Visit(node) is { } cycle)
            {
                return cycle;
            }
        }

        return null;
    }
}
