namespace Keystone.Gateway.Pipeline;

/// <summary>What the gateway does with a model that has no price row (<c>Gateway:UnpricedModels:*</c>).</summary>
/// <remarks>
/// An unknown price must never mean unlimited spend: by default such a call is reserved and settled at a fallback price,
/// counted against the caps, recorded with <c>cost_status = Fallback</c> and flagged on the budgets page and the founder's
/// dashboard until a real price row exists.
/// </remarks>
public sealed class UnpricedModelsOptions
{
    /// <summary><c>Fallback</c> (default): cost the call at the fallback price. <c>Refuse</c>: refuse it with <c>model_not_priced</c>.</summary>
    public UnpricedModelAction Action { get; set; } = UnpricedModelAction.Fallback;

    /// <summary>Fallback input price of chat models, micro-USD per million tokens. Default (unset): the highest chat input price in the table.</summary>
    public long? InputMicrosPerMillion { get; set; }

    /// <summary>Fallback output price of chat models, micro-USD per million tokens. Default (unset): the highest output price in the table.</summary>
    public long? OutputMicrosPerMillion { get; set; }

    /// <summary>Fallback input price of embedding models, micro-USD per million tokens. Default (unset): the highest embedding price in the table.</summary>
    public long? EmbeddingMicrosPerMillion { get; set; }
}

/// <summary>What happens to a call on a model without a price.</summary>
public enum UnpricedModelAction
{
    /// <summary>Reserve, settle and record it at the fallback price.</summary>
    Fallback,

    /// <summary>Refuse it before any provider is called (<c>model_not_priced</c>).</summary>
    Refuse,
}
