using Keystone.Testing;
using Keystone.Web.Tests.Shared;

namespace Keystone.Web.Tests.Hosting;

public sealed class StartupSettingsTests
{
    [Fact]
    public void Start_MisspelledDatabaseProvider_FailsNamingTheSetting()
    {
        using var app = new KeystoneAppFactory().WithSetting("Database:Provider", "Postgress");

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        var message = ExceptionText.Flatten(error);
        Assert.Contains("Database:Provider", message, StringComparison.Ordinal);
        Assert.Contains("Postgress", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_PostgresWithoutConnectionString_FailsNamingTheSetting()
    {
        using var app = new KeystoneAppFactory().WithSetting("Database:Provider", "Postgres");

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains("ConnectionStrings:Postgres", ExceptionText.Flatten(error), StringComparison.Ordinal);
    }

}
