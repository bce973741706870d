using Keystone.Gateway;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// The live embedding model of a tenant: the first target of the embedding alias (<c>Knowledge:EmbeddingAlias</c>) as
/// the gateway resolves it for that tenant. Chunks are indexed per model; a change of this model makes the job embed
/// every chunk again into the new model's index, and retrieval reads only the model that embedded the question.
/// </summary>
internal sealed class KnowledgeModelResolver(ILlmGateway gateway, IOptions<KnowledgeOptions> options)
{
    public async Task<string> LiveModelAsync(Guid tenantId, CancellationToken ct)
    {
        var alias = options.Value.EmbeddingAlias;
        var models = await gateway.ModelsAsync(tenantId, ct);
        var match = models.FirstOrDefault(m => string.Equals(m.Id, alias, StringComparison.OrdinalIgnoreCase));
        return match is { Targets.Count: > 0 } ? match.Targets[0] : match?.Id ?? alias;
    }
}
