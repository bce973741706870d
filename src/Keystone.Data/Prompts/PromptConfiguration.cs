using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Prompts;

internal sealed class PromptConfiguration : IEntityTypeConfiguration<Prompt>
{
    public void Configure(EntityTypeBuilder<Prompt> b)
    {
        b.ToTable("prompts");
        b.Property(p => p.Name).HasMaxLength(64);
        b.Property(p => p.Description).HasMaxLength(500);
        b.Property(p => p.SampleVariables).HasMaxLength(32_000);
        b.HasIndex(p => p.Name).IsUnique();
    }
}
