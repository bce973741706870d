using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Prompts;

internal sealed class PromptVersionConfiguration : IEntityTypeConfiguration<PromptVersion>
{
    public void Configure(EntityTypeBuilder<PromptVersion> b)
    {
        b.ToTable("prompt_versions");
        b.Property(v => v.SystemTemplate).HasMaxLength(32_000);
        b.Property(v => v.UserTemplate).HasMaxLength(32_000);
        b.Property(v => v.ModelAlias).HasMaxLength(128);
        b.Property(v => v.Note).HasMaxLength(1000);
        b.Property(v => v.ResponseSchema).HasMaxLength(32_000);
        b.Property(v => v.CreatedByUserId).HasMaxLength(64);
        b.Property(v => v.CreatedByName).HasMaxLength(256);
        // Unique: two editors saving "new version" at once cannot both get number n; the loser retries.
        b.HasIndex(v => new { v.PromptId, v.Number }).IsUnique();
        b.HasOne<Prompt>().WithMany().HasForeignKey(v => v.PromptId).OnDelete(DeleteBehavior.Cascade);
    }
}
