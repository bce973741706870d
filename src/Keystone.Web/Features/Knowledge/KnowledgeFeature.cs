using Keystone.Data;
using Keystone.Web.Hosting;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Knowledge;

internal static class KnowledgeFeature
{
    public static IServiceCollection AddKnowledgeFeature(this IServiceCollection services) => services
        .AddOptionsWithValidateOnStart<KnowledgeOptions>().BindConfiguration(KnowledgeOptions.SectionName).ValidateDataAnnotations()
        .Validate(o => o.OverlapTokens < o.ChunkTokens / 2, "Knowledge:OverlapTokens must be less than half of Knowledge:ChunkTokens.").Services
        .AddSingleton<KnowledgeModelResolver>()
        .AddSingleton<KnowledgeJobQueue>()
        .AddSingleton<KnowledgeTermStats>()
        .AddScoped<KnowledgeIngestion>()
        .AddScoped<KnowledgeQueries>()
        .AddScoped<KnowledgeRetriever>()
        .AddScoped<KnowledgeEval>()
        .AddScoped<KnowledgeGrounding>()
        .AddPerDatabase<IKnowledgeSearch, SqliteKnowledgeSearch, PostgresKnowledgeSearch>()
        .AddRecurringJob<KnowledgeEmbeddingJob>(KnowledgeEmbeddingJob.RecurringId, KnowledgeEmbeddingJob.Cron, j => j.RunAsync(CancellationToken.None));

    /// <summary><c>/api/v1/documents</c> and <c>/api/v1/retrieve</c>.</summary>
    public static IEndpointRouteBuilder MapKnowledgeEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapKeystoneApiGroup(ApiPolicies.Admin);
        admin.MapPost("/documents", KnowledgeEndpoints.UploadAsync)
            .WithName("UploadDocuments")
            .WithSummary("Upload documents to the tenant's knowledge base (multipart/form-data: one part per file, optional 'tags' field, comma-separated)")
            .WithDescription("Markdown, plain text, HTML (main content) or PDF. Each file succeeds or fails on its own: the answer lists each with its status (created, updated, unchanged, failed) and, when it failed, a code and the reason. A name uploaded again changes that document; only changed chunks are embedded again. 400 when every file failed.")
            .Accepts<IFormFileCollection>("multipart/form-data")
            .Produces<DocumentUploadListDto>()
            .WithErrors(400, 409, 413, 415)
            .DisableAntiforgery();
        admin.MapDelete("/documents/{id:guid}", KnowledgeEndpoints.DeleteAsync)
            .WithName("DeleteDocument")
            .WithSummary("Delete a document with its chunks and embeddings")
            .Produces(204)
            .WithErrors(404);

        var readers = app.MapKeystoneApiGroup(ApiPolicies.ChatOrEmbeddings);
        readers.MapGet("/documents", KnowledgeEndpoints.ListAsync)
            .WithName("ListDocuments")
            .WithSummary("The tenant's documents with their embedding progress (status embedding, ready or failed)")
            .Produces<DocumentListDto>();
        readers.MapGet("/documents/{id:guid}", KnowledgeEndpoints.GetAsync)
            .WithName("GetDocument")
            .WithSummary("One document with its embedding progress")
            .Produces<DocumentDto>()
            .WithErrors(404);
        readers.MapPost("/retrieve", KnowledgeEndpoints.RetrieveAsync)
            .WithName("Retrieve")
            .WithSummary("The k chunks of the tenant's documents that best answer a question (full-text and vector search fused), with citations")
            .WithDescription("Fields: query (required), k (1–20, default 5), documentIds (only these documents), tag (only documents with this tag). The question is embedded through the gateway's embedding alias as the tenant (feature 'embeddings'): a priced, budgeted call.")
            .Accepts<RetrieveInputDoc>("application/json")
            .Produces<RetrieveResultDto>()
            .WithErrors(400, 413, 415, 429, 502, 503);
        return app;
    }
}
