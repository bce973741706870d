using Keystone.Gateway.Pipeline;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Routing;

/// <summary>What a requested model resolved to: the name the caller used and the ordered targets.</summary>
internal sealed record ResolvedModel(string Alias, IReadOnlyList<ModelTarget> Targets);

/// <summary>
/// Resolves an alias (or an allowed raw <c>provider/model</c>) to its chain, honouring the tenant's allowed
/// models and alias overrides (pipeline step 2).
/// </summary>
internal sealed class AliasResolver(IOptionsMonitor<GatewayOptions> options, ProviderDirectory providers)
{

    public ResolvedModel Resolve(string? model, TenantSnapshot tenant)
    {
        var name = model?.Trim() ?? "";
        if (name.Length == 0)
        {
            throw new GatewayException(new GatewayError(GatewayErrorCodes.InvalidRequest, "model is required.", 400, Param: "model"));
        }

        IReadOnlyList<ModelTarget>? targets = tenant.AliasOverrides.GetValueOrDefault(name);
        if (targets is null && options.CurrentValue.Aliases.TryGetValue(name, out var configured))
        {
            targets = configured.Select(t => ModelTarget.TryParse(t, out var m) ? m : null).OfType<ModelTarget>().ToList();
        }

        if (targets is not null)
        {
            if (tenant.AllowedModels is { } allowed && !allowed.Contains(name))
            {
                throw NotAllowed(name);
            }

            return new ResolvedModel(name, targets);
        }

        if (ModelTarget.TryParse(name, out var raw) && providers.Contains(raw.Provider))
        {
            // Raw provider models are opt-in per tenant: business code uses aliases.
            if (tenant.AllowedModels is not { } allowedRaw || !allowedRaw.Contains(name))
            {
                throw NotAllowed(name);
            }

            return new ResolvedModel(name, [raw]);
        }

        throw new GatewayException(new GatewayError(GatewayErrorCodes.ModelNotFound,
            $"The model '{name}' does not exist. Use one of the aliases listed by /v1/models.", 404, Param: "model"));
    }

    /// <summary>The aliases and raw models this tenant may use.</summary>
    public IReadOnlyList<ModelInfo> List(TenantSnapshot tenant)
    {
        var result = new List<ModelInfo>();
        var names = options.CurrentValue.Aliases.Keys.Concat(tenant.AliasOverrides.Keys).Distinct(StringComparer.OrdinalIgnoreCase);
        foreach (var alias in names.Order(StringComparer.OrdinalIgnoreCase))
        {
            if (tenant.AllowedModels is { } allowed && !allowed.Contains(alias))
            {
                continue;
            }

            var chain = Resolve(alias, tenant).Targets;
            result.Add(new ModelInfo(alias, "alias", chain.Select(t => t.ToString()).ToList(), IsEmbedding(alias, chain)));
        }

        foreach (var raw in tenant.AllowedModels ?? new HashSet<string>())
        {
            if (ModelTarget.TryParse(raw, out var t) && providers.Contains(t.Provider))
            {
                result.Add(new ModelInfo(raw, "model", [raw], IsEmbedding(raw, [t])));
            }
        }

        return result;
    }

    private static bool IsEmbedding(string alias, IReadOnlyList<ModelTarget> chain)
        => alias.Contains("embed", StringComparison.OrdinalIgnoreCase) || chain.Any(t => t.Model.Contains("embed", StringComparison.OrdinalIgnoreCase));

    private static GatewayException NotAllowed(string name) => new(new GatewayError(GatewayErrorCodes.ModelNotAllowed,
        $"The model '{name}' is not allowed for this tenant.", 403, Param: "model"));
}
