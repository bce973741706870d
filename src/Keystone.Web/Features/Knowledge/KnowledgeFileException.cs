namespace Keystone.Web.Features.Knowledge;

/// <summary>Machine-readable reasons a file was refused (the API's <c>code</c> per file).</summary>
internal static class KnowledgeErrors
{
    public const string UnsupportedType = "unsupported_type";
    public const string TooLarge = "file_too_large";
    public const string Empty = "empty_file";
    public const string Unreadable = "unreadable_file";
    public const string Encrypted = "encrypted_file";
    public const string NoText = "no_text";
    public const string InvalidName = "invalid_name";
    public const string TooManyDocuments = "too_many_documents";
    public const string Conflict = Keystone.Gateway.GatewayErrorCodes.Conflict;
}

/// <summary>One file could not be ingested: the reason in plain words, and a code.</summary>
internal sealed class KnowledgeFileException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
