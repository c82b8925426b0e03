using SharpProxy.Cli;

namespace SharpProxy.Deploy.Tests;

/// <summary>A proxy container's args, run through the real <see cref="ProxyOptionsParser"/>.</summary>
internal sealed record ProxyCommandLine(IReadOnlyList<string> Args, ProxyOptions Options, IReadOnlyList<string> ToleratedFlags, IReadOnlyList<string> AcceptedArgs)
{
    /// <summary>
    /// Parses <paramref name="args"/>; a flag that the parser calls unknown is removed (with its value) only when
    /// <see cref="PendingSupport.ProxyFlags"/> lists it. Any other parse error throws with the parser's message.
    /// </summary>
    public static ProxyCommandLine Parse(IReadOnlyList<string> args)
    {
        var remaining = args.ToList();
        var tolerated = new List<string>();
        for (var attempt = 0; attempt <= PendingSupport.ProxyFlags.Count; attempt++)
        {
            var options = ProxyOptionsParser.Parse(remaining, out var error);
            if (options is not null)
            {
                return new ProxyCommandLine(args, options, tolerated, remaining);
            }

            var pending = PendingSupport.ProxyFlags.FirstOrDefault(flag => error == $"unknown option '{flag}' (see --help)");
            if (pending is null)
            {
                throw new InvalidOperationException($"sharpproxy rejects the args [{string.Join(' ', args)}]: {error}");
            }

            var at = remaining.IndexOf(pending);
            remaining.RemoveRange(at, Math.Min(2, remaining.Count - at));
            tolerated.Add(pending);
        }

        throw new InvalidOperationException($"sharpproxy rejects the args [{string.Join(' ', args)}]");
    }

    /// <summary>The value following <paramref name="flag"/> in the manifest's args (whether or not main accepts it yet).</summary>
    public string? ValueOf(string flag)
    {
        for (var i = 0; i < Args.Count - 1; i++)
        {
            if (Args[i] == flag)
            {
                return Args[i + 1];
            }
        }

        return Args.Select(a => a.StartsWith(flag + "=", StringComparison.Ordinal) ? a[(flag.Length + 1)..] : null).FirstOrDefault(v => v is not null);
    }

    /// <summary>Where the container reads its bootstrap (<c>-c</c>/<c>--config-path</c>).</summary>
    public string ConfigPath => Options.ConfigPath ?? throw new InvalidOperationException($"no --config-path in [{string.Join(' ', Args)}]");
}
