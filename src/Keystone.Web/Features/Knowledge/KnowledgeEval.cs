using System.Globalization;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Tenancy;

namespace Keystone.Web.Features.Knowledge;

/// <summary>One labelled question of the evaluation corpus: the document and section whose passage answers it.</summary>
internal sealed record EvalQuestion(string Question, string Document, string Section);

/// <summary>The answer's rank (1-based) in the top <see cref="KnowledgeEval.K"/>, or null when it is not there.</summary>
internal sealed record EvalAnswer(EvalQuestion Question, int? Rank);

/// <summary>Recall@5 (questions whose answering passage is in the top 5) and mean reciprocal rank over the corpus.</summary>
internal sealed record KnowledgeEvalReport(int Documents, int Chunks, string? EmbeddingModel, IReadOnlyList<EvalAnswer> Answers)
{
    public double RecallAtK => Answers.Count == 0 ? 0 : (double)Answers.Count(a => a.Rank is not null) / Answers.Count;

    public double Mrr => Answers.Count == 0 ? 0 : Answers.Sum(a => a.Rank is { } r ? 1.0 / r : 0) / Answers.Count;
}

/// <summary>
/// Retrieval quality on the labelled corpus the project ships (<c>knowledge/eval/</c>: documents and
/// <c>questions.jsonl</c>): ingests the documents for a tenant, embeds them through the job, asks every question and
/// scores where the labelled section's passage ranks. Used by <c>--knowledge-eval</c> and by the CI test.
/// </summary>
internal sealed class KnowledgeEval(KnowledgeIngestion ingestion, KnowledgeRetriever retriever, KnowledgeEmbeddingJob job)
{
    public const int K = 5;

    /// <summary>The corpus folder: <c>knowledge/eval</c> in the first folder up from <paramref name="start"/> that has one.</summary>
    public static string? FindCorpus(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "knowledge", "eval");
            if (File.Exists(Path.Combine(candidate, "questions.jsonl")))
            {
                return candidate;
            }
        }

        return null;
    }

    public static IReadOnlyList<EvalQuestion> ReadQuestions(string corpus)
    {
        var json = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        return File.ReadLines(Path.Combine(corpus, "questions.jsonl"))
            .Where(l => !string.IsNullOrWhiteSpace(l))
            .Select(l => JsonSerializer.Deserialize<EvalQuestion>(l, json) ?? throw new InvalidDataException("An empty question line."))
            .ToList();
    }

    public async Task<KnowledgeEvalReport> RunAsync(Guid tenantId, string corpus, CancellationToken ct)
    {
        var files = Directory.EnumerateFiles(Path.Combine(corpus, "documents")).Order(StringComparer.Ordinal)
            .Select(f => new KnowledgeUpload(Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
        var results = await ingestion.IngestAsync(tenantId, files, ["eval"], ct);
        if (results.FirstOrDefault(r => r.Failed) is { } failed)
        {
            throw new InvalidDataException($"The corpus document {failed.Name} was refused: {failed.Error}");
        }

        // Until the outbox is empty (each run takes at most MaxBatchesPerRun batches).
        for (var i = 0; i < 1_000 && (await job.RunOnceAsync(ct)) is { Batches: > 0 } or { Queued: > 0 }; i++)
        {
        }

        string? model = null;
        var answers = new List<EvalAnswer>();
        foreach (var question in ReadQuestions(corpus))
        {
            var result = await retriever.RetrieveAsync(tenantId, new RetrievalQuery(question.Question, K, Tag: "eval"), null, ct);
            model ??= result.EmbeddingModel;
            var at = result.Hits.ToList().FindIndex(h => h.DocumentName == question.Document
                && (h.Section == question.Section || h.Section.EndsWith(Chunker.HeaderSeparator + question.Section, StringComparison.Ordinal)));
            answers.Add(new EvalAnswer(question, at < 0 ? null : at + 1));
        }

        return new KnowledgeEvalReport(files.Count, results.Sum(r => r.Chunks), model, answers);
    }

    /// <summary>The report as the command prints it.</summary>
    public static string Format(KnowledgeEvalReport report)
    {
        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"Knowledge retrieval on {report.Documents} documents ({report.Chunks} chunks), {report.Answers.Count} questions, embedding model {report.EmbeddingModel ?? "none"}:"),
        };
        lines.AddRange(report.Answers.Where(a => a.Rank != 1).Select(a =>
            $"  {(a.Rank is { } r ? "rank " + r.ToString(CultureInfo.InvariantCulture) : "missed")}: {a.Question.Question} ({a.Question.Document} › {a.Question.Section})"));
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"recall@{K} = {report.RecallAtK:0.000}"));
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"MRR = {report.Mrr:0.000}"));
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>
    /// <c>--knowledge-eval [DIR]</c>: runs the evaluation in a scratch SQLite database (the command line points the app
    /// at a temporary file, <see cref="Hosting.CommandLine"/>), prints recall@5 and MRR, and deletes the scratch file.
    /// </summary>
    public static async Task<bool> RunCommandAsync(WebApplication app, string[] args)
    {
        var at = Array.IndexOf(args, CommandName);
        if (at < 0)
        {
            return false;
        }

        var corpus = at + 1 < args.Length && !args[at + 1].StartsWith("--", StringComparison.Ordinal)
            ? Path.GetFullPath(args[at + 1])
            : FindCorpus(Directory.GetCurrentDirectory()) ?? FindCorpus(AppContext.BaseDirectory);
        if (corpus is null || !File.Exists(Path.Combine(corpus, "questions.jsonl")))
        {
            Console.Error.WriteLine("No corpus found: run from the repository or name the folder (--knowledge-eval knowledge/eval).");
            Environment.ExitCode = 2;
            return true;
        }

        await app.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);
        // The command runs without the hosted services, so the price table is seeded here: without it the local
        // model's calls would be costed at the fallback price for unpriced models instead of its $0.
        await app.Services.GetRequiredService<Keystone.Gateway.Pricing.PriceSeeder>().SeedAsync(CancellationToken.None);
        await app.Services.GetRequiredService<Keystone.Gateway.Pricing.PriceBook>().ReloadAsync(CancellationToken.None);
        var factory = app.Services.GetRequiredService<KeystoneDbFactory>();
        var tenantId = Guid.NewGuid();
        await using (var db = factory.ForSystem())
        {
            var plan = new Plan { Id = Guid.NewGuid(), Name = "Knowledge eval" };
            db.Add(plan);
            db.Add(new Tenant { Id = tenantId, Name = "Knowledge eval", Slug = "knowledge-eval", PlanId = plan.Id, CreatedUtc = DateTime.UtcNow });
            await db.SaveChangesAsync();
        }

        await using var scope = app.Services.CreateAsyncScope();
        var eval = ActivatorUtilities.CreateInstance<KnowledgeEval>(scope.ServiceProvider);
        var report = await eval.RunAsync(tenantId, corpus, CancellationToken.None);
        Console.WriteLine(Format(report));
        var scratch = app.Services.GetRequiredService<KeystoneConnectionStrings>()
            .SqliteFile(app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DatabaseOptions>>().Value);
        if (scratch.Contains(ScratchFolder, StringComparison.Ordinal))
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(Path.GetDirectoryName(scratch)!, recursive: true);
        }

        return true;
    }

    public const string CommandName = "--knowledge-eval";

    /// <summary>The temporary folder the command's scratch databases live in (<see cref="Hosting.CommandLine"/>).</summary>
    public const string ScratchFolder = "keystone-knowledge-eval";
}
