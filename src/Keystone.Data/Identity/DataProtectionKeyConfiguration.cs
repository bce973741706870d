using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Identity;

internal sealed class DataProtectionKeyConfiguration : IEntityTypeConfiguration<DataProtectionKey>
{
    public void Configure(EntityTypeBuilder<DataProtectionKey> b)
    {
        b.ToTable("data_protection_keys");
        b.Property(x => x.FriendlyName).HasMaxLength(DataProtectionKey.FriendlyNameMaxLength);
        // Two instances starting together may both store (or import) the same element: the second write fails here.
        b.HasIndex(x => x.FriendlyName).IsUnique();
    }
}
