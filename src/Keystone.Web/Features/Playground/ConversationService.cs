using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Playground;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Playground;

/// <summary>
/// Saves playground conversations. Every operation is confined to the signed-in user's own conversations in
/// the tenant in scope: the tenant by the context's query filter (and RLS on PostgreSQL), the user here.
/// </summary>
internal sealed class ConversationService(IDbContextFactory<KeystoneDbContext> dbFactory, TenantContext tenant, TimeProvider time)
{
    /// <summary>Longest title kept (the column's length).</summary>
    public const int MaxTitleLength = 200;

    /// <summary>The caller's conversations, most recently used first.</summary>
    public async Task<IReadOnlyList<ConversationSummary>> ListAsync(CancellationToken ct)
    {
        var (_, userId) = Owner();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Conversations.AsNoTracking()
            .Where(c => c.UserId == userId)
            .OrderByDescending(c => c.UpdatedUtc)
            .Take(200)
            .Select(c => new ConversationSummary(c.Id, c.Title, c.Model, c.UpdatedUtc))
            .ToListAsync(ct);
    }

    /// <summary>One of the caller's conversations with its messages in order, or null.</summary>
    public async Task<Conversation?> GetAsync(Guid id, CancellationToken ct)
    {
        var (_, userId) = Owner();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var conversation = await db.Conversations.AsNoTracking()
            .FirstOrDefaultAsync(c => c.Id == id && c.UserId == userId, ct);
        if (conversation is null)
        {
            return null;
        }

        conversation.Messages = await db.ConversationMessages.AsNoTracking()
            .Where(m => m.ConversationId == id)
            .OrderBy(m => m.Sequence).ThenBy(m => m.Variant)
            .ToListAsync(ct);
        return conversation;
    }

    /// <summary>Starts a conversation; the title is the first line of the first message, shortened.</summary>
    public async Task<Conversation> CreateAsync(string firstMessage, ConversationSettings settings, CancellationToken ct)
    {
        var (tenantId, userId) = Owner();
        var now = time.GetUtcNow().UtcDateTime;
        var conversation = new Conversation
        {
            Id = Guid.CreateVersion7(),
            TenantId = tenantId,
            UserId = userId,
            Title = TitleFrom(firstMessage),
            CreatedUtc = now,
            UpdatedUtc = now,
        };
        Apply(conversation, settings);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        db.Conversations.Add(conversation);
        await db.SaveChangesAsync(ct);
        return conversation;
    }

    /// <summary>Stores the settings the next message is sent with.</summary>
    public async Task<bool> SaveSettingsAsync(Guid id, ConversationSettings settings, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var conversation = await FindOwnAsync(db, id, ct);
        if (conversation is null)
        {
            return false;
        }

        Apply(conversation, settings);
        conversation.UpdatedUtc = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct);
        return true;
    }

    /// <summary>Renames a conversation; blank titles are refused.</summary>
    public async Task<bool> RenameAsync(Guid id, string title, CancellationToken ct)
    {
        title = title.Trim();
        if (title.Length == 0)
        {
            return false;
        }

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var conversation = await FindOwnAsync(db, id, ct);
        if (conversation is null)
        {
            return false;
        }

        conversation.Title = title.Length > MaxTitleLength ? title[..MaxTitleLength] : title;
        await db.SaveChangesAsync(ct);
        return true;
    }

    /// <summary>Deletes a conversation and its messages.</summary>
    public async Task<bool> DeleteAsync(Guid id, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var conversation = await FindOwnAsync(db, id, ct);
        if (conversation is null)
        {
            return false;
        }

        db.Conversations.Remove(conversation);
        await db.SaveChangesAsync(ct);
        return true;
    }

    /// <summary>
    /// Saves messages of one conversation (new, or updated when they already exist) and marks the
    /// conversation used. Tenant ids are set here, never taken from the caller.
    /// </summary>
    public async Task SaveMessagesAsync(Guid conversationId, IReadOnlyList<ConversationMessage> messages, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var conversation = await FindOwnAsync(db, conversationId, ct)
            ?? throw new InvalidOperationException("The conversation does not exist or is not yours.");
        var ids = messages.Select(m => m.Id).ToList();
        var existing = await db.ConversationMessages.Where(m => m.ConversationId == conversationId && ids.Contains(m.Id)).ToDictionaryAsync(m => m.Id, ct);
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var message in messages)
        {
            message.TenantId = conversation.TenantId;
            message.ConversationId = conversationId;
            if (message.Id == Guid.Empty)
            {
                message.Id = Guid.CreateVersion7();
            }

            if (message.CreatedUtc == default)
            {
                message.CreatedUtc = now;
            }

            if (existing.TryGetValue(message.Id, out var stored))
            {
                db.Entry(stored).CurrentValues.SetValues(message);
            }
            else
            {
                db.ConversationMessages.Add(Copy(message));
            }
        }

        conversation.UpdatedUtc = now;
        await db.SaveChangesAsync(ct);
    }

    /// <summary>Removes every message from <paramref name="fromSequence"/> on (regenerate, edit and resend).</summary>
    public async Task TruncateAsync(Guid conversationId, int fromSequence, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (await FindOwnAsync(db, conversationId, ct) is null)
        {
            return;
        }

        await db.ConversationMessages
            .Where(m => m.ConversationId == conversationId && m.Sequence >= fromSequence)
            .ExecuteDeleteAsync(ct);
    }

    internal static string TitleFrom(string message)
    {
        var line = message.Trim().Split('\n', 2)[0].Trim();
        if (line.Length == 0)
        {
            return "New conversation";
        }

        return line.Length <= 60 ? line : line[..57].TrimEnd() + "…";
    }

    private (Guid TenantId, string UserId) Owner()
    {
        var tenantId = tenant.TenantId ?? throw new InvalidOperationException("The playground needs a tenant in scope.");
        var userId = tenant.UserId ?? throw new InvalidOperationException("The playground needs a signed-in user.");
        return (tenantId, userId);
    }

    private async Task<Conversation?> FindOwnAsync(KeystoneDbContext db, Guid id, CancellationToken ct)
    {
        var (_, userId) = Owner();
        return await db.Conversations.FirstOrDefaultAsync(c => c.Id == id && c.UserId == userId, ct);
    }

    private static void Apply(Conversation conversation, ConversationSettings settings)
    {
        conversation.Model = settings.Model;
        conversation.SystemPrompt = string.IsNullOrWhiteSpace(settings.SystemPrompt) ? null : settings.SystemPrompt;
        conversation.Temperature = settings.Temperature;
        conversation.MaxTokens = settings.MaxTokens;
    }

    // The page keeps its own instances as view state; the context tracks copies so the two never alias.
    private static ConversationMessage Copy(ConversationMessage m) => new()
    {
        Id = m.Id,
        TenantId = m.TenantId,
        ConversationId = m.ConversationId,
        Sequence = m.Sequence,
        Role = m.Role,
        Content = m.Content,
        State = m.State,
        Variant = m.Variant,
        RequestedModel = m.RequestedModel,
        CallId = m.CallId,
        TraceId = m.TraceId,
        Provider = m.Provider,
        Model = m.Model,
        FellBack = m.FellBack,
        CacheStatus = m.CacheStatus,
        InputTokens = m.InputTokens,
        OutputTokens = m.OutputTokens,
        CachedInputTokens = m.CachedInputTokens,
        CostMicros = m.CostMicros,
        CostStatus = m.CostStatus,
        TtftMs = m.TtftMs,
        LatencyMs = m.LatencyMs,
        Error = m.Error,
        CreatedUtc = m.CreatedUtc,
    };
}
