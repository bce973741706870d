using System.Net;
using System.Text.RegularExpressions;
using Keystone.Data;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Keystone.Testing;

/// <summary>
/// The app under test, in-process: embedded SQLite on a temporary file, demo seed on with known password
/// and API key, the simulated provider. Override <see cref="Settings"/> or call <see cref="WithSetting"/>
/// to change configuration (e.g. point a provider at a loopback mock upstream, or use PostgreSQL).
/// </summary>
public partial class KeystoneAppFactory : WebApplicationFactory<Program>
{
    /// <summary>Every demo user's password in tests.</summary>
    public const string DemoPassword = "Test-demo-password-1";

    /// <summary>Acme's API key in tests (every scope).</summary>
    public const string DemoApiKey = "ks_test_acme_0123456789abcdefghijklmnopqrstuv";

    private readonly Dictionary<string, string?> _settings;

    public KeystoneAppFactory()
    {
        DataDirectory = Path.Combine(Path.GetTempPath(), "keystone-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(DataDirectory);
        _settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Database:Provider"] = "Sqlite",
            ["Database:SqlitePath"] = Path.Combine(DataDirectory, "keystone.db"),
            ["Seed:Demo"] = "true",
            ["Seed:DemoPassword"] = DemoPassword,
            ["Seed:DemoApiKey"] = DemoApiKey,
            // Tests that need recorded traffic make it themselves (or set this); 60 days would slow every app test.
            ["Seed:DemoHistoryDays"] = "0",
            // The product's embed alias is the in-process local model (decision 0036). Tests that do not need meaning
            // embed with the simulated provider's hashed bag of words: no model in memory, no inference per call.
            // WithLocalEmbeddings() opts a test into the real model (loaded once per test process).
            [SimulatedEmbeddingsKey] = SimulatedEmbeddings,
        };
    }

    private const string SimulatedEmbeddingsKey = "Gateway:Aliases:embed:0";
    private const string SimulatedEmbeddings = "sim/sim-embed";

    /// <summary>
    /// Uses the product's default <c>embed</c> alias, the local all-MiniLM-L6-v2 model, instead of the simulated
    /// embeddings: for tests that need real meaning (semantic cache, retrieval quality). The model is loaded once per
    /// process, on the first embedding.
    /// </summary>
    public KeystoneAppFactory WithLocalEmbeddings()
    {
        if (_settings.TryGetValue(SimulatedEmbeddingsKey, out var value) && value == SimulatedEmbeddings)
        {
            _settings.Remove(SimulatedEmbeddingsKey);
        }

        return this;
    }

    /// <summary>Temporary folder of this instance's database (deleted on dispose).</summary>
    public string DataDirectory { get; }

    /// <summary>The configuration handed to the app (highest priority).</summary>
    public IReadOnlyDictionary<string, string?> Settings => _settings;

    /// <summary>Leaves one of the test defaults unset, so the app's own default applies.</summary>
    public KeystoneAppFactory WithoutSetting(string key)
    {
        _settings.Remove(key);
        return this;
    }

    /// <summary>The host environment the app starts in; <c>Development</c> unless a test sets another (e.g. <c>Production</c>).</summary>
    public string EnvironmentName { get; private set; } = "Development";

    /// <summary>
    /// Starts the app in <paramref name="environment"/>: <c>Production</c> runs the Release-like pipeline (the exception
    /// handler instead of the developer exception page).
    /// </summary>
    public KeystoneAppFactory WithEnvironment(string environment)
    {
        EnvironmentName = environment;
        return this;
    }

    /// <summary>Sets one configuration value before the app starts.</summary>
    public KeystoneAppFactory WithSetting(string key, string? value)
    {
        _settings[key] = value;
        return this;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // UseSetting values are visible to Program's start-up reads (unlike ConfigureAppConfiguration).
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        builder.UseEnvironment(EnvironmentName);
        builder.ConfigureLogging(logging => logging.AddProvider(ErrorLog));
    }

    /// <summary>
    /// The app's error-level log lines (exception included), so a test that sees a 500 can say why: the server's log is
    /// otherwise not part of a test's output.
    /// </summary>
    public CapturedErrorLog ErrorLog { get; } = new();

    /// <summary>A client that keeps cookies and does not follow redirects (so tests see 302s).</summary>
    public HttpClient CreateBrowserLikeClient() => CreateClient(new WebApplicationFactoryClientOptions
    {
        AllowAutoRedirect = false,
        HandleCookies = true,
    });

    /// <summary>Signs a demo user in through the real login form; returns the client holding the cookie.</summary>
    public async Task<HttpClient> SignInAsync(string email, string password = DemoPassword)
    {
        var client = CreateBrowserLikeClient();
        var response = await SignInWithAsync(client, email, password);
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Sign-in of {email} answered {(int)response.StatusCode}, not a redirect.");
        }

        return client;
    }

    /// <summary>Posts the login form (with its antiforgery token) and returns the raw response.</summary>
    public static async Task<HttpResponseMessage> SignInWithAsync(HttpClient client, string email, string password)
    {
        var page = await client.GetStringAsync("/Account/Login");
        var token = AntiforgeryToken().Match(page).Groups[1].Value;
        var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["_handler"] = "login",
            ["Input.Email"] = email,
            ["Input.Password"] = password,
        });
        return await client.PostAsync("/Account/Login", form);
    }

    /// <summary>The antiforgery token of a rendered form.</summary>
    public static string AntiforgeryTokenOf(string html) => AntiforgeryToken().Match(html).Groups[1].Value;

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Left for the OS to clean: a connection may still be finalizing.
        }
    }

    /// <summary>A system-scope context on the app's database, for assertions.</summary>
    public KeystoneDbContext CreateSystemDb() => ((KeystoneDbFactory)Services.GetService(typeof(KeystoneDbFactory))!).ForSystem();
}
