using System.Globalization;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// <c>/knowledge</c>: members of a tenant read its documents and their indexing progress; tenant admins (and platform
/// admins switched into the tenant) also upload (drag and drop, several files) and delete. Progress refreshes every two
/// seconds while a document is still being indexed, and stops when none is.
/// </summary>
public sealed partial class KnowledgePage
{
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(2);
    private static readonly string Accept = string.Join(",", DocumentParser.Kinds.Keys);

    [Inject] private KnowledgeIngestion Ingestion { get; set; } = default!;
    [Inject] private KnowledgeQueries Queries { get; set; } = default!;
    [Inject] private TenantContext Tenant { get; set; } = default!;
    [Inject] private IOptions<KnowledgeOptions> Options { get; set; } = default!;
    [Inject] private ILogger<KnowledgePage> Log { get; set; } = default!;

    private readonly CancellationTokenSource _cts = new();
    private Guid? _tenantId;
    private bool _isAdmin;
    private bool _uploading;
    private string? _error;
    private Guid? _confirmDelete;
    private IReadOnlyList<KnowledgeDocumentRow>? _documents;
    private IReadOnlyList<KnowledgeUploadResult>? _results;
    private Task? _refresh;

    protected override async Task OnInitializedAsync()
    {
        _tenantId = Tenant.TenantId;
        _isAdmin = Policies.RolesFor[Policies.TenantAdmin].Any(Tenant.User.IsInRole);
        if (_tenantId is not null)
        {
            await LoadAsync();
        }
    }

    private async Task LoadAsync()
    {
        _documents = await Queries.ListAsync(_tenantId!.Value, _cts.Token);
        // Live progress: poll while anything is still being indexed (the job runs in the background, maybe elsewhere).
        if (_documents.Any(d => d.Status == "embedding") && _refresh is null or { IsCompleted: true })
        {
            _refresh = RefreshWhileIndexingAsync();
        }
    }

    private async Task RefreshWhileIndexingAsync()
    {
        using var timer = new PeriodicTimer(RefreshEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(_cts.Token))
            {
                var rows = await Queries.ListAsync(_tenantId!.Value, _cts.Token);
                await InvokeAsync(() =>
                {
                    _documents = rows;
                    StateHasChanged();
                });
                if (!rows.Any(d => d.Status == "embedding"))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The page was closed.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.LogWarning(ex, "Knowledge progress refresh stopped");
        }
    }

    private async Task UploadAsync(InputFileChangeEventArgs e)
    {
        var max = Options.Value.MaxFilesPerUpload;
        if (e.FileCount > max)
        {
            _error = $"{e.FileCount} files is too many for one upload: choose at most {max}.";
            return;
        }

        _uploading = true;
        _error = null;
        _results = null;
        StateHasChanged();
        try
        {
            var uploads = new List<KnowledgeUpload>(e.FileCount);
            foreach (var file in e.GetMultipleFiles(max))
            {
                if (file.Size > Options.Value.MaxFileBytes)
                {
                    uploads.Add(new KnowledgeUpload(file.Name, [], file.Size));
                    continue;
                }

                await using var stream = file.OpenReadStream(Options.Value.MaxFileBytes, _cts.Token);
                using var buffer = new MemoryStream((int)file.Size);
                await stream.CopyToAsync(buffer, _cts.Token);
                uploads.Add(new KnowledgeUpload(file.Name, buffer.ToArray()));
            }

            _results = await Ingestion.IngestAsync(_tenantId!.Value, uploads, [], _cts.Token);
            await LoadAsync();
        }
        catch (KnowledgeRequestException ex)
        {
            _error = ex.Message;
        }
        catch (IOException)
        {
            _error = "A file could not be read from your browser (was it moved or deleted?). Nothing from this upload was lost; choose the files again.";
        }
        finally
        {
            _uploading = false;
        }
    }

    private async Task DeleteAsync(Guid id)
    {
        _confirmDelete = null;
        if (!await Ingestion.DeleteAsync(_tenantId!.Value, id, _cts.Token))
        {
            _error = "That document was already deleted.";
        }

        _results = null;
        await LoadAsync();
    }

    private static string Outcome(KnowledgeUploadResult r) => r.Status switch
    {
        "unchanged" => $"{r.Name}: unchanged (same content as before).",
        "updated" => $"{r.Name}: updated; {r.ChunksToEmbed} of {r.Chunks} passages changed and are being indexed.",
        _ => $"{r.Name}: added; {r.Chunks} passages are being indexed.",
    };

    private static double Percent(KnowledgeDocumentRow d) => d.Chunks == 0 ? 100 : 100.0 * d.Embedded / d.Chunks;

    private static string Megabytes(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0.#", CultureInfo.CurrentCulture) + " MB";

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        if (_refresh is not null)
        {
            try
            {
                await _refresh;
            }
            catch (OperationCanceledException)
            {
                // Cancelled above.
            }
        }

        _cts.Dispose();
    }
}
