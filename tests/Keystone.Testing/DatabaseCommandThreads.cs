using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Keystone.Testing;

/// <summary>
/// Which thread ran each EF Core command against one test's database (EF Core's diagnostic events are process-wide, so
/// commands are kept only when their connection string contains <c>connectionMarker</c>, e.g. the test database's
/// folder). For rules such as "a SQLite write never runs on a thread-pool thread" (issue 26): on SQLite every "async"
/// call runs synchronously on the calling thread, and one that meets the write lock sleeps there.
/// </summary>
public sealed class DatabaseCommandThreads : IDisposable, IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
{
    private readonly string _marker;
    private readonly ConcurrentQueue<Seen> _seen = new();
    private readonly IDisposable _subscription;
    private readonly List<IDisposable> _listeners = [];

    /// <summary>One command: its SQL, the name of the thread that ran it and whether that was a thread-pool thread.</summary>
    public sealed record Seen(string Sql, string? ThreadName, bool PoolThread);

    public DatabaseCommandThreads(string connectionMarker)
    {
        _marker = connectionMarker;
        _subscription = DiagnosticListener.AllListeners.Subscribe(this);
    }

    /// <summary>The commands seen so far whose SQL satisfies <paramref name="match"/>.</summary>
    public IReadOnlyList<Seen> Where(Func<string, bool> match) => _seen.Where(s => match(s.Sql)).ToList();

    /// <summary>Waits (up to <paramref name="timeout"/>, then fails) until a command whose SQL satisfies <paramref name="match"/> has run.</summary>
    public async Task<IReadOnlyList<Seen>> WaitForAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            var seen = Where(match);
            if (seen.Count > 0)
            {
                return seen;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"No matching database command ran within {timeout.TotalSeconds:0} s.");
    }

    void IObserver<DiagnosticListener>.OnNext(DiagnosticListener listener)
    {
        if (listener.Name == DbLoggerCategory.Name)
        {
            lock (_listeners)
            {
                _listeners.Add(listener.Subscribe(this, name => name == RelationalEventId.CommandExecuting.Name));
            }
        }
    }

    void IObserver<KeyValuePair<string, object?>>.OnNext(KeyValuePair<string, object?> e)
    {
        // Raised on the thread about to run the command.
        if (e.Value is CommandEventData data && data.Command.Connection?.ConnectionString.Contains(_marker, StringComparison.Ordinal) == true)
        {
            _seen.Enqueue(new Seen(data.Command.CommandText, Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));
        }
    }

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }

    public void Dispose()
    {
        _subscription.Dispose();
        lock (_listeners)
        {
            _listeners.ForEach(l => l.Dispose());
        }
    }
}
