using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Keystone.Testing;

/// <summary>Keeps the last error-level log lines of a test host (category, message, exception) for failure messages.</summary>
public sealed class CapturedErrorLog : ILoggerProvider
{
    private const int Kept = 50;
    private readonly ConcurrentQueue<string> _lines = new();

    /// <summary>The kept lines, oldest first.</summary>
    public IReadOnlyList<string> Lines => [.. _lines];

    /// <summary>The kept lines as one block for an assertion message ("(none)" when there are none).</summary>
    public override string ToString() => _lines.IsEmpty ? "(no error logged)" : string.Join(Environment.NewLine, _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(string line)
    {
        _lines.Enqueue(line);
        while (_lines.Count > Kept && _lines.TryDequeue(out _))
        {
        }
    }

    private sealed class Logger(CapturedErrorLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Add($"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : Environment.NewLine + exception)}");
            }
        }
    }
}
