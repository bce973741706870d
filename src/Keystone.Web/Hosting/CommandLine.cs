namespace Keystone.Web.Hosting;

/// <summary>
/// The app's own commands (<c>--migrate</c>, <c>--export-prompts DIR</c>, <c>eval PROMPT [--version N] [--alias A]
/// [--min-score S]</c>) beside configuration switches
/// (<c>--Section:Key=value</c>, <c>--Section:Key value</c>). The configuration reader takes a bare <c>--name</c> as a key
/// whose value is the next argument, so <c>--migrate --Database:SqlitePath=/x</c> once stored "--Database:SqlitePath=/x"
/// as the value of "migrate" and silently ignored the path: commands are taken out before the configuration sees
/// the arguments.
/// </summary>
internal static class CommandLine
{
    /// <summary>Commands that stand alone.</summary>
    private static readonly string[] Flags = ["--migrate"];

    /// <summary>Commands followed by one value of their own.</summary>
    private static readonly string[] WithValue = ["--export-prompts", "--knowledge-eval"];

    /// <summary>The <c>eval</c> command (first argument) and its options that take a value.</summary>
    public const string EvalCommand = "eval";

    private static readonly string[] EvalOptions = ["--version", "--alias", "--min-score"];

    /// <summary><paramref name="args"/> without the app's commands (and their values): what configuration reads.</summary>
    public static string[] ConfigurationArguments(string[] args)
    {
        var kept = new List<string>(args.Length);
        var eval = args.Length > 0 && args[0] == EvalCommand;
        for (var i = 0; i < args.Length; i++)
        {
            if (eval && (i == 0 || (i == 1 && !args[1].StartsWith("--", StringComparison.Ordinal))))
            {
                continue; // "eval" and the prompt's name
            }

            if (eval && EvalOptions.Contains(args[i], StringComparer.Ordinal))
            {
                if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    i++;
                }

                continue;
            }

            if (Flags.Contains(args[i], StringComparer.Ordinal))
            {
                continue;
            }

            if (WithValue.Contains(args[i], StringComparer.Ordinal))
            {
                // Its value, when there is one, is the command's (a following switch is not: the command reports it).
                if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    i++;
                }

                continue;
            }

            kept.Add(args[i]);
        }

        // --knowledge-eval measures in a scratch database, never the configured one (docs/decisions/0038-knowledge-retrieval.md).
        if (args.Contains("--knowledge-eval", StringComparer.Ordinal))
        {
            var scratch = Path.Combine(Path.GetTempPath(), "keystone-knowledge-eval", Guid.NewGuid().ToString("N"), "eval.db");
            kept.AddRange(["--Database:Provider=Sqlite", "--Database:SqlitePath=" + scratch, "--Seed:Demo=false", "--Knowledge:PauseEmbedding=true"]);
        }

        return [.. kept];
    }
}
