using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests;

/// <summary>
/// The real app as a separate process (its own build output, embedded SQLite on a temp file, demo seed on)
/// and a headless Debian Chromium driven by Playwright. One per test run; each test gets a fresh browser
/// context (no shared cookies) from <see cref="NewPageAsync"/>.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>Every demo user's password in browser tests.</summary>
    public const string DemoPassword = "Browser-demo-password-1";

    /// <summary>Acme's API key in browser tests.</summary>
    public const string DemoApiKey = "ks_browser_acme_0123456789abcdefghijklmnopqrs";

    private static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
    ];

    private Process? _app;
    private readonly StringBuilder _appOutput = new();
    private IPlaywright? _playwright;
    private string _dataDir = "";

    public IBrowser Browser { get; private set; } = default!;

    /// <summary>The app's SQLite file, for tests that arrange data through the product's own services.</summary>
    public string DatabasePath => Path.Combine(_dataDir, "keystone.db");

    /// <summary>The app's base address (<c>http://127.0.0.1:port</c>).</summary>
    public string BaseUrl { get; private set; } = "";

    /// <summary>Where screenshots go (kept by CI as artifacts): <c>TestResults/browser</c> under the repository root.</summary>
    public static string ArtifactsDirectory { get; } = Path.Combine(RepositoryRoot(), "TestResults", "browser");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(ArtifactsDirectory);
        _dataDir = Path.Combine(Path.GetTempPath(), "keystone-browser", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dataDir);
        var port = FreePort();
        BaseUrl = $"http://127.0.0.1:{port}";
        StartApp();
        await WaitUntilReadyAsync();

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = File.Exists("/usr/bin/chromium") ? "/usr/bin/chromium" : null,
            Headless = true,
            Args = ChromiumArgs,
        });
    }

    /// <summary>A page in a fresh context (own cookies), with the app's base URL.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseUrl,
            ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
        });
        context.SetDefaultTimeout(15_000);
        return await context.NewPageAsync();
    }

    /// <summary>Signs in through the real login page and waits for the console's circuit.</summary>
    public async Task<IPage> SignInAsync(string email, string password = DemoPassword)
    {
        var page = await NewPageAsync();
        await page.GotoAsync("/Account/Login");
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.ClickAsync("[data-test=sign-in]");
        await page.WaitForURLAsync(url => !url.Contains("/Account/Login", StringComparison.Ordinal));
        await WaitForCircuitAsync(page);
        return page;
    }

    /// <summary>Waits until the page's Blazor circuit is interactive (prerendered pages ignore clicks before).</summary>
    public static Task WaitForCircuitAsync(IPage page) =>
        page.WaitForSelectorAsync("[data-test=circuit][data-state=on]", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });

    /// <summary>Saves a full-page screenshot under <see cref="ArtifactsDirectory"/>.</summary>
    /// <summary>The input of a MudBlazor field: its attributes land on the input or on a wrapper, depending on the component.</summary>
    public static ILocator Input(IPage page, string test) =>
        page.Locator($"input[data-test={test}], [data-test={test}] input").First;

    public static Task<byte[]> ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ArtifactsDirectory, name + ".png"), FullPage = true });

    private void StartApp()
    {
        var dll = Path.Combine(RepositoryRoot(), "src", "Keystone.Web", "bin", BuildConfiguration(), "net10.0", "Keystone.Web.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"The app's build output is missing: {dll}. Build the solution first.");
        }

        var psi = new ProcessStartInfo("dotnet", [dll, "--urls", BaseUrl])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        psi.Environment["Database__Provider"] = "Sqlite";
        psi.Environment["Database__SqlitePath"] = Path.Combine(_dataDir, "keystone.db");
        psi.Environment["Seed__Demo"] = "true";
        psi.Environment["Seed__DemoPassword"] = DemoPassword;
        psi.Environment["Seed__DemoApiKey"] = DemoApiKey;
        psi.Environment["Logging__LogLevel__Default"] = "Warning";
        _app = Process.Start(psi)!;
        _app.OutputDataReceived += (_, e) => { lock (_appOutput) { _appOutput.AppendLine(e.Data); } };
        _app.ErrorDataReceived += (_, e) => { lock (_appOutput) { _appOutput.AppendLine(e.Data); } };
        _app.BeginOutputReadLine();
        _app.BeginErrorReadLine();
    }

    private async Task WaitUntilReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline)
        {
            if (_app!.HasExited)
            {
                throw new InvalidOperationException($"The app exited with {_app.ExitCode} before it was ready:\n{Output}");
            }

            try
            {
                if ((await http.GetAsync(BaseUrl + "/readyz")).StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Slow first answer while migrating and seeding.
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"The app did not become ready within 3 minutes:\n{Output}");
    }

    /// <summary>What the app printed so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_appOutput)
            {
                return _appOutput.ToString();
            }
        }
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        if (_app is { HasExited: false })
        {
            _app.Kill(entireProcessTree: true);
            await _app.WaitForExitAsync();
        }

        _app?.Dispose();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
            // Left for the OS.
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string BuildConfiguration() =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Console.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Console.sln not found above the test output.");
    }
}

/// <summary>All browser tests share one app and one browser.</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
