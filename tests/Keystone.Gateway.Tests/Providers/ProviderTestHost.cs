using System.Text.Json;
using Keystone.Data;
using Keystone.Gateway.Providers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Tests.Providers;

/// <summary>Builds the real provider registration (configuration → options → named clients → registry) for a test.</summary>
internal sealed class ProviderTestHost : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    public ProviderTestHost(IDictionary<string, string?> settings, TimeProvider? time = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddSingleton<IConfiguration>(configuration);
        // The price book needs a database factory to resolve; these tests never open it.
        services.AddSingleton(new KeystoneDbFactory(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Sqlite, SqlitePath = "unused.db" }),
            new KeystoneConnectionStrings { BaseDirectory = Path.GetTempPath() }));
        services.AddKeystoneProviders(configuration);
        _services = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    public ProviderRegistry Registry => _services.GetRequiredService<ProviderRegistry>();

    public IModelProvider Provider(string name) => Registry.Get(name);

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    public ValueTask DisposeAsync() => _services.DisposeAsync();

    public static ChatRequest Chat(params ChatMessage[] messages) => new() { Model = "test", Messages = messages };

    public static ProviderChatRequest For(string model, ChatRequest request, int maxTokens = 256, ProviderCredentials? credentials = null)
        => new(model, request, maxTokens, credentials);

    public static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    /// <summary>Drains a stream into text, tool-call fragments, finish reason and usage.</summary>
    public static async Task<StreamTranscript> DrainAsync(IAsyncEnumerable<ProviderStreamEvent> stream, CancellationToken ct = default)
    {
        var transcript = new StreamTranscript();
        await foreach (var e in stream.WithCancellation(ct))
        {
            transcript.Events.Add(e);
        }

        return transcript;
    }
}

internal sealed class StreamTranscript
{
    public List<ProviderStreamEvent> Events { get; } = [];

    public string Text => string.Concat(Events.OfType<ProviderTextDelta>().Select(d => d.Text));

    public string? Finish => Events.OfType<ProviderFinish>().SingleOrDefault()?.FinishReason;

    public Usage? Usage => Events.OfType<ProviderUsage>().SingleOrDefault()?.Usage;

    public string Arguments(int index) => string.Concat(Events.OfType<ProviderToolCallDelta>().Where(d => d.Index == index).Select(d => d.ArgumentsFragment));
}
