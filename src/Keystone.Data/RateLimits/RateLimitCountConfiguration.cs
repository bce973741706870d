using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.RateLimits;

internal sealed class RateLimitCountConfiguration : IEntityTypeConfiguration<RateLimitCount>
{
    public void Configure(EntityTypeBuilder<RateLimitCount> b)
    {
        b.ToTable("rate_limit_counts");
        b.HasKey(x => new { x.Key, x.Minute, x.InstanceId });
        b.Property(x => x.Key).HasMaxLength(RateLimitCount.KeyMaxLength);
        // Every sync reads the last two minutes and deletes older ones.
        b.HasIndex(x => x.Minute);
    }
}
