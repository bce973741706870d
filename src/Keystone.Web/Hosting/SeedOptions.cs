using Keystone.Data;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Hosting;

/// <summary>The <c>Seed</c> configuration section: demo data for trying and testing the product.</summary>
internal sealed class SeedOptions
{
    public const string SectionName = "Seed";

    /// <summary>Seed the demo tenants and users. Defaults to on in the embedded SQLite mode, off with PostgreSQL.</summary>
    public bool? Demo { get; set; }

    /// <summary>When set, every demo user's password (reset at each start). Defaults to <see cref="DefaultDemoPassword"/>.</summary>
    public string? DemoPassword { get; set; }

    /// <summary>
    /// Acme's API key with every scope (stored hashed), seeded with the demo. Defaults to
    /// <see cref="DefaultDemoApiKey"/> so that the README's curl and SDK examples work out of the box, as the demo
    /// users' password does; an empty value seeds no key.
    /// </summary>
    public string? DemoApiKey { get; set; }

    /// <summary>
    /// Days of demo traffic recorded through the gateway (simulated provider, clock set back) at first start,
    /// when no call exists yet. Defaults to 60; 0 turns it off (tests).
    /// </summary>
    public int DemoHistoryDays { get; set; } = 60;

    /// <summary>The demo users' password when <see cref="DemoPassword"/> is not set (listed in the README).</summary>
    public const string DefaultDemoPassword = "Keystone-demo-1";

    /// <summary>Acme's demo API key when <see cref="DemoApiKey"/> is not set (listed in the README and docs/api.md).</summary>
    public const string DefaultDemoApiKey = "ks_demo_0123456789abcdefghijklmnop";
}

/// <summary>How the <c>Seed</c> section is bound.</summary>
internal static class SeedOptionsSetup
{
    /// <summary>
    /// Gives <see cref="SeedOptions.Demo"/> its default from the database mode once, when the options are built (on with
    /// SQLite, off with PostgreSQL), so that code reading the options never asks which database it runs on.
    /// </summary>
    public static OptionsBuilder<SeedOptions> WithDemoDefaultPerDatabase(this OptionsBuilder<SeedOptions> builder)
        => builder.PostConfigure<IOptions<DatabaseOptions>>((seed, database) => seed.Demo ??= database.Value.IsEmbedded);
}
