using Keystone.Gateway.Recording;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>The recorder writes on its own thread, below the request threads' priority.</summary>
public sealed class RecorderThreadTests
{
    [Fact]
    public async Task Writer_OnLinux_RunsOnItsOwnThreadAtALowerPriority()
    {
        Assert.True(OperatingSystem.IsLinux(), "The product and its tests run on Linux here; the priority is read from /proc.");
        await using var db = await SqliteTestDatabase.CreateAsync();
        var gateway = await GatewayHarness.CreateAsync(db.CreateFactory());
        try
        {
            _ = gateway.Recorder; // the writer starts with the recorder (a singleton made on first use)
            // /proc/self/task/<tid>/stat: "pid (comm) state ..." — the nice value is the 19th field.
            var writers = Directory.GetDirectories("/proc/self/task")
                .Where(t => TryRead(Path.Combine(t, "comm"))?.Trim() == CallRecorder.WriterThreadName)
                .Select(t => TryRead(Path.Combine(t, "stat")))
                .OfType<string>()
                .Select(stat => int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture))
                .ToList();
            var mine = File.ReadAllText("/proc/thread-self/stat");
            var testThreadNice = int.Parse(mine[(mine.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture);

            // One writer per recorder; other tests' gateways in this process may have theirs too.
            Assert.NotEmpty(writers);
            Assert.All(writers, nice => Assert.Equal(Math.Min(19, testThreadNice + CallRecorder.WriterNice), nice));
        }
        finally
        {
            await gateway.Services.DisposeAsync();
        }
    }

    // Other tests in this process start and stop threads (their own recorders among them): a thread listed a moment
    // ago may be gone when its files are read.
    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
    }
}
