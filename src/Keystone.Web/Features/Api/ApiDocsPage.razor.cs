using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Keystone.Web.Features.Api;

/// <summary>Renders the generated OpenAPI document for tenant admins (no external viewer: there is no CDN).</summary>
public sealed partial class ApiDocsPage
{
    [Inject] private IServiceProvider Services { get; set; } = default!;

    private IReadOnlyList<OperationView>? _operations;
    private string? _description;

    protected override async Task OnInitializedAsync()
    {
        var provider = Services.GetRequiredKeyedService<IOpenApiDocumentProvider>(ApiOpenApi.DocumentName);
        var document = await provider.GetOpenApiDocumentAsync(CancellationToken.None);
        _description = document.Info?.Description;
        var operations = new List<OperationView>();
        foreach (var (path, item) in document.Paths ?? [])
        {
            foreach (var (method, operation) in item.Operations ?? [])
            {
                var body = operation.RequestBody?.Content?.Values.FirstOrDefault()?.Schema;
                operations.Add(new OperationView(
                    method.Method.ToUpperInvariant(), path, operation.Summary, operation.Description,
                    (operation.Parameters ?? []).Select(p => $"{p.Name} ({p.In?.ToString().ToLowerInvariant()}){(p.Required ? ", required" : "")}").ToList(),
                    body is null ? null : SchemaNode.From(body, document, 0),
                    (operation.Responses ?? []).OrderBy(r => r.Key, StringComparer.Ordinal)
                        .Select(r => (r.Key, r.Value.Content?.Values.FirstOrDefault()?.Schema is { } s ? SchemaNode.From(s, document, 0) : null)).ToList()));
            }
        }

        _operations = [.. operations.OrderBy(o => o.Path, StringComparer.Ordinal).ThenBy(o => o.Method, StringComparer.Ordinal)];
    }

    internal sealed record OperationView(string Method, string Path, string? Summary, string? Description, IReadOnlyList<string> Parameters,
        SchemaNode? RequestBody, IReadOnlyList<(string Status, SchemaNode? Schema)> Responses);
}

/// <summary>A schema reduced to what people read: name, type, properties (a few levels deep).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (SchemaView.Schema): Razor components are public and Blazor parameters must be public properties.")]
public sealed record SchemaNode(string Name, string Type, IReadOnlyList<(string Property, SchemaNode Schema)> Properties)
{
    internal static SchemaNode From(IOpenApiSchema schema, OpenApiDocument document, int depth)
    {
        var name = schema is OpenApiSchemaReference reference ? reference.Reference.Id ?? "object" : "";
        var resolved = schema is OpenApiSchemaReference r && r.Reference.Id is { } id
            && document.Components?.Schemas?.TryGetValue(id, out var target) == true ? target : schema;
        var type = resolved.Type?.ToString().ToLowerInvariant() ?? "any";
        if (resolved.Items is { } items && resolved.Type?.HasFlag(JsonSchemaType.Array) == true)
        {
            var inner = From(items, document, depth + 1);
            return new SchemaNode(name.Length > 0 ? name : $"array of {inner.Name}", $"array of {(inner.Name.Length > 0 ? inner.Name : inner.Type)}", inner.Properties);
        }

        var properties = depth >= 3 || resolved.Properties is null
            ? []
            : resolved.Properties.Select(p => (p.Key, From(p.Value, document, depth + 1))).ToList();
        return new SchemaNode(name.Length > 0 ? name : type, type, properties);
    }
}
