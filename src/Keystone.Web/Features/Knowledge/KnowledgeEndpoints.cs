using System.Text.Json;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Knowledge;

/// <summary>One uploaded file's outcome in <c>POST /api/v1/documents</c>.</summary>
internal sealed record DocumentUploadDto(string Name, string Status, Guid? DocumentId, int Chunks, int ChunksToEmbed, string? Code, string? Error);

internal sealed record DocumentUploadListDto(IReadOnlyList<DocumentUploadDto> Documents);

/// <summary>A document and its embedding progress (<c>status</c>: <c>embedding</c>, <c>ready</c> or <c>failed</c>).</summary>
internal sealed record DocumentDto(Guid Id, string Name, string Title, string Kind, IReadOnlyList<string> Tags, long SizeBytes, int Chunks,
    int Embedded, int Failed, string Status, string? LastError, DateTime CreatedUtc, DateTime UpdatedUtc);

internal sealed record DocumentListDto(IReadOnlyList<DocumentDto> Documents);

/// <summary>The body of <c>POST /api/v1/retrieve</c> (documentation).</summary>
internal sealed record RetrieveInputDoc(string Query, int? K, IReadOnlyList<Guid>? DocumentIds, string? Tag);

/// <summary>A cited chunk.</summary>
internal sealed record RetrieveHitDto(Guid DocumentId, string DocumentName, string DocumentTitle, string Section, Guid ChunkId, int Position,
    string Header, string Text, double Score);

internal sealed record RetrieveResultDto(string? EmbeddingModel, IReadOnlyList<RetrieveHitDto> Results);

/// <summary>
/// <c>/api/v1/documents</c> and <c>/api/v1/retrieve</c>: the knowledge base of the key's tenant. Uploading and deleting
/// need an <c>admin</c> key; listing and retrieving a <c>chat</c> or <c>embeddings</c> key.
/// </summary>
internal static class KnowledgeEndpoints
{
    public static async Task<IResult> UploadAsync(HttpContext http, KnowledgeIngestion ingestion, IOptions<KnowledgeOptions> options)
    {
        var key = KeyOf(http);
        var limit = options.Value.MaxFileBytes * options.Value.MaxFilesPerUpload + 1024 * 1024;
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limit;
        }

        if (http.Request.ContentLength > limit)
        {
            throw new ApiException(413, ApiErrors.RequestTooLarge, $"The upload is larger than the {limit:N0} bytes accepted ({options.Value.MaxFilesPerUpload} files of at most {options.Value.MaxFileBytes:N0} bytes).");
        }

        if (!http.Request.HasFormContentType)
        {
            throw new ApiException(415, ApiErrors.UnsupportedMediaType, "Send the files as multipart/form-data (one part per file, optional 'tags' field).");
        }

        IFormCollection form;
        try
        {
            form = await http.Request.ReadFormAsync(http.RequestAborted);
        }
        catch (InvalidDataException ex)
        {
            throw ApiException.Invalid("files", "The multipart body could not be read: " + ex.Message);
        }

        var files = new List<KnowledgeUpload>(form.Files.Count);
        foreach (var file in form.Files)
        {
            if (file.Length > options.Value.MaxFileBytes)
            {
                // Not read into memory: the ingestion refuses it by size alone.
                files.Add(new KnowledgeUpload(file.FileName, [], file.Length));
                continue;
            }

            using var stream = new MemoryStream((int)file.Length);
            await file.CopyToAsync(stream, http.RequestAborted);
            files.Add(new KnowledgeUpload(file.FileName, stream.ToArray()));
        }

        var tags = form["tags"].SelectMany(t => (t ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)).ToList();
        var results = await Run(() => ingestion.IngestAsync(key.TenantId, files, tags, http.RequestAborted));
        if (results.All(r => r.Failed))
        {
            var first = results[0];
            throw new ApiException(results.All(r => r.Code == KnowledgeErrors.Conflict) ? 409 : 400, first.Code ?? GatewayErrorCodes.InvalidRequest,
                string.Join(" ", results.Select(r => r.Error)), "files");
        }

        return TypedResults.Ok(new DocumentUploadListDto(results.Select(r =>
            new DocumentUploadDto(r.Name, r.Status, r.DocumentId, r.Chunks, r.ChunksToEmbed, r.Code, r.Error)).ToList()));
    }

    public static async Task<IResult> ListAsync(HttpContext http, KnowledgeQueries queries)
    {
        var rows = await queries.ListAsync(KeyOf(http).TenantId, http.RequestAborted);
        return TypedResults.Ok(new DocumentListDto(rows.Select(ToDto).ToList()));
    }

    public static async Task<IResult> GetAsync(HttpContext http, Guid id, KnowledgeQueries queries)
        => await queries.GetAsync(KeyOf(http).TenantId, id, http.RequestAborted) is { } row
            ? TypedResults.Ok(ToDto(row))
            : throw ApiException.NotFound($"This tenant has no document {id}.");

    public static async Task<IResult> DeleteAsync(HttpContext http, Guid id, KnowledgeIngestion ingestion)
        => await ingestion.DeleteAsync(KeyOf(http).TenantId, id, http.RequestAborted)
            ? TypedResults.NoContent()
            : throw ApiException.NotFound($"This tenant has no document {id}.");

    public static async Task<IResult> RetrieveAsync(HttpContext http, ApiRequestBody body, KnowledgeRetriever retriever)
    {
        var key = KeyOf(http);
        var input = await body.ReadAsync(http.Request, ParseRetrieve, http.RequestAborted);
        var caller = new CallContext { TenantId = key.TenantId, ApiKeyId = key.KeyId };
        var result = await Run(() => retriever.RetrieveAsync(key.TenantId, input, caller, http.RequestAborted));
        return TypedResults.Ok(new RetrieveResultDto(result.EmbeddingModel, result.Hits.Select(h =>
            new RetrieveHitDto(h.DocumentId, h.DocumentName, h.DocumentTitle, h.Section, h.ChunkId, h.Position, h.Header, h.Text, Math.Round(h.Score, 6))).ToList()));
    }

    internal static RetrievalQuery ParseRetrieve(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        var query = JsonFields.RequiredString(root, "query", KnowledgeRetriever.MaxQueryLength);
        var k = JsonFields.OptionalInt(root, "k", 1, 100) ?? 5;
        var tag = JsonFields.OptionalString(root, "tag", 32);
        List<Guid>? documents = null;
        if (root.TryGetProperty("documentIds", out var ids) && ids.ValueKind != JsonValueKind.Null)
        {
            if (ids.ValueKind != JsonValueKind.Array || ids.GetArrayLength() > 100)
            {
                throw ApiException.Invalid("documentIds", "documentIds must be an array of at most 100 document ids.");
            }

            documents = [];
            foreach (var id in ids.EnumerateArray())
            {
                if (id.ValueKind != JsonValueKind.String || !Guid.TryParse(id.GetString(), out var guid))
                {
                    throw ApiException.Invalid("documentIds", "Each document id must be a string holding a document's id.");
                }

                documents.Add(guid);
            }
        }

        return new RetrievalQuery(query, k, documents, tag?.Trim().ToLowerInvariant());
    }

    private static ApiKeyIdentity KeyOf(HttpContext http)
        => ApiKeyContext.KeyOf(http) ?? throw new InvalidOperationException("API key authentication did not run.");

    private static async Task<T> Run<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (KnowledgeRequestException ex)
        {
            throw ApiException.Invalid(ex.Param, ex.Message);
        }
    }

    private static DocumentDto ToDto(KnowledgeDocumentRow r) => new(r.Id, r.Name, r.Title, r.Kind, r.Tags, r.SizeBytes, r.Chunks, r.Embedded,
        r.Failed, r.Status, r.LastError, r.CreatedUtc, r.UpdatedUtc);
}
