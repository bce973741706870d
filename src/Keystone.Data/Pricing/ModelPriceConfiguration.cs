using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Pricing;

internal sealed class ModelPriceConfiguration : IEntityTypeConfiguration<ModelPrice>
{
    public void Configure(EntityTypeBuilder<ModelPrice> b)
    {
        b.ToTable("model_prices");
        b.Property(p => p.Provider).HasMaxLength(64);
        b.Property(p => p.Model).HasMaxLength(128);
        b.Property(p => p.Source).HasMaxLength(512);
        // One price per provider, model and start time: the seeder's idempotency key.
        b.HasIndex(p => new { p.Provider, p.Model, p.EffectiveFromUtc }).IsUnique();
    }
}
