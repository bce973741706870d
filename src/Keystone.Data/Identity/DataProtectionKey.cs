namespace Keystone.Data.Identity;

/// <summary>
/// One element of ASP.NET Core Data Protection's key ring (a key or a revocation, as XML) in PostgreSQL mode, where
/// every instance must share the ring (decision 21). Not tenant-owned: the keys protect every tenant's cookies,
/// antiforgery tokens and BYOK secrets alike.
/// </summary>
public sealed class DataProtectionKey
{
    public int Id { get; set; }

    /// <summary>Data Protection's name for the element (<c>key-{id}</c>); unique, so an element is stored once.</summary>
    public string FriendlyName { get; set; } = "";

    public string Xml { get; set; } = "";

    public DateTime CreatedUtc { get; set; }

    public const int FriendlyNameMaxLength = 256;
}
