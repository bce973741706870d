namespace Keystone.Web.Hosting;

/// <summary>
/// Hangfire's log provider, routed to the host's <see cref="ILoggerFactory"/> like Hangfire.AspNetCore's own, but safe
/// when that factory is gone. Hangfire keeps its provider in a process-wide static that the last host to configure it
/// wins; in a process with several hosts (the test suites start dozens) a disposed host's factory stayed there, and the
/// next Hangfire object another host built (a job client behind the agents page) threw <see cref="ObjectDisposedException"/>
/// and the page answered 500. Loggers are made on first use, and a disposed factory only silences Hangfire's own lines.
/// </summary>
internal sealed class HangfireLogProvider(ILoggerFactory factory) : Hangfire.Logging.ILogProvider
{
    public Hangfire.Logging.ILog GetLogger(string name) => new Logger(factory, name);

    private sealed class Logger(ILoggerFactory factory, string name) : Hangfire.Logging.ILog
    {
        private ILogger? _logger;

        public bool Log(Hangfire.Logging.LogLevel logLevel, Func<string> messageFunc, Exception exception = null!)
        {
            try
            {
                var logger = _logger ??= factory.CreateLogger(name);
                var level = logLevel switch
                {
                    Hangfire.Logging.LogLevel.Trace => LogLevel.Trace,
                    Hangfire.Logging.LogLevel.Debug => LogLevel.Debug,
                    Hangfire.Logging.LogLevel.Info => LogLevel.Information,
                    Hangfire.Logging.LogLevel.Warn => LogLevel.Warning,
                    Hangfire.Logging.LogLevel.Error => LogLevel.Error,
                    _ => LogLevel.Critical,
                };

                // Hangfire asks "is this level on?" with no message.
                if (messageFunc is null || !logger.IsEnabled(level))
                {
                    return logger.IsEnabled(level);
                }

                logger.Log(level, 0, messageFunc(), exception, static (message, _) => message);
                return true;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }
    }
}
