namespace Keystone.Web.Platform.Http;

/// <summary>Authorization policies of the HTTP API: one per API key scope.</summary>
internal static class ApiPolicies
{
    public const string Chat = "api:" + ApiKeyScopes.Chat;
    public const string Embeddings = "api:" + ApiKeyScopes.Embeddings;
    public const string ChatOrEmbeddings = "api:chat-or-embeddings";
    public const string UsageRead = "api:" + ApiKeyScopes.UsageRead;
    public const string Admin = "api:" + ApiKeyScopes.Admin;

    /// <summary>The scopes (any of) each policy accepts; an admin key passes every policy.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> ScopesFor = new Dictionary<string, string[]>
    {
        [Chat] = [ApiKeyScopes.Chat],
        [Embeddings] = [ApiKeyScopes.Embeddings],
        [ChatOrEmbeddings] = [ApiKeyScopes.Chat, ApiKeyScopes.Embeddings],
        [UsageRead] = [ApiKeyScopes.UsageRead],
        [Admin] = [ApiKeyScopes.Admin],
    };
}
