using Keystone.Testing;

namespace Keystone.Web.Tests.Hosting;

/// <summary>One running app (SQLite, demo seed) shared by the tests of a class.</summary>
public sealed class AppFixture : IAsyncLifetime
{
    public KeystoneAppFactory App { get; } = new();

    public Task InitializeAsync()
    {
        _ = App.Server; // start the host (migrate + seed) once
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        App.Dispose();
        return Task.CompletedTask;
    }
}
