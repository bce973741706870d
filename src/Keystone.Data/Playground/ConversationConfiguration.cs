using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Playground;

internal sealed class ConversationConfiguration : IEntityTypeConfiguration<Conversation>
{
    public void Configure(EntityTypeBuilder<Conversation> b)
    {
        b.ToTable("conversations");
        b.Property(c => c.UserId).HasMaxLength(64);
        b.Property(c => c.Title).HasMaxLength(200);
        b.Property(c => c.Model).HasMaxLength(128);
        b.Property(c => c.SystemPrompt).HasMaxLength(20_000);
        // The list page: a user's conversations, most recently used first.
        b.HasIndex(c => new { c.TenantId, c.UserId, c.UpdatedUtc });
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(c => c.TenantId).OnDelete(DeleteBehavior.Cascade);
        b.HasMany(c => c.Messages).WithOne().HasForeignKey(m => m.ConversationId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class ConversationMessageConfiguration : IEntityTypeConfiguration<ConversationMessage>
{
    public void Configure(EntityTypeBuilder<ConversationMessage> b)
    {
        b.ToTable("conversation_messages");
        b.Property(m => m.Role).HasMaxLength(16);
        b.Property(m => m.State).HasConversion<string>().HasMaxLength(16);
        b.Property(m => m.RequestedModel).HasMaxLength(128);
        b.Property(m => m.Provider).HasMaxLength(64);
        b.Property(m => m.Model).HasMaxLength(128);
        b.Property(m => m.CacheStatus).HasConversion<string>().HasMaxLength(16);
        b.Property(m => m.CostStatus).HasConversion<string>().HasMaxLength(16);
        b.Property(m => m.Error).HasMaxLength(1000);
        b.HasIndex(m => new { m.ConversationId, m.Sequence, m.Variant }).IsUnique();
        b.HasIndex(m => m.TenantId);
    }
}
