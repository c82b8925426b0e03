using System.Net;
using SharpProxy.Interception.Platform;

namespace SharpProxy.Interception.Tests.TestSupport;

/// <summary>The outcome of one in-process <c>sharpproxy iptables</c> run.</summary>
internal sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}

/// <summary>Runs <see cref="IptablesCommand"/> in-process against a controlled environment.</summary>
internal static class CommandHarness
{
    public static readonly IPAddress[] PodIPv4 = [IPAddress.Loopback, IPAddress.Parse("10.1.0.5")];
    public static readonly IPAddress[] PodIPv6 = [IPAddress.IPv6Loopback, IPAddress.Parse("fe80::1"), IPAddress.Parse("fd00::5")];

    /// <summary>
    /// Runs with only <paramref name="environment"/> as environment variables, a pod address list, an optional
    /// resolv.conf content, no passwd entry for istio-proxy, and the real process runner (only used when not dry-run).
    /// </summary>
    public static CommandResult Run(
        IReadOnlyList<string> args,
        IReadOnlyDictionary<string, string>? environment = null,
        IReadOnlyList<IPAddress>? addresses = null,
        string? resolvConf = null,
        string? passwd = null,
        IProcessRunner? runner = null)
    {
        string? resolvPath = null, passwdPath = null;
        try
        {
            if (resolvConf is not null)
            {
                resolvPath = Path.GetTempFileName();
                File.WriteAllText(resolvPath, resolvConf);
            }

            if (passwd is not null)
            {
                passwdPath = Path.GetTempFileName();
                File.WriteAllText(passwdPath, passwd);
            }

            var host = new HostEnvironment
            {
                Variables = environment ?? new Dictionary<string, string>(),
                LocalAddresses = addresses is null ? HostEnvironment.ReadLocalAddresses : _ => addresses,
                ResolvConfPath = resolvPath ?? "/nonexistent/resolv.conf",
                PasswdPath = passwdPath ?? "/nonexistent/passwd",
                Runner = runner ?? ProcessRunner.Default,
            };
            var stdout = new StringWriter { NewLine = "\n" };
            var stderr = new StringWriter { NewLine = "\n" };
            int code = IptablesCommand.Run(args, stdout, stderr, host);
            return new CommandResult(code, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            if (resolvPath is not null)
            {
                File.Delete(resolvPath);
            }

            if (passwdPath is not null)
            {
                File.Delete(passwdPath);
            }
        }
    }
}

/// <summary>A process runner that records every command and fails the test if anything is executed.</summary>
internal sealed class RecordingRunner : IProcessRunner
{
    private readonly List<string> _commands = [];

    public IReadOnlyList<string> Commands => _commands;

    public ProcessResult Run(string fileName, IReadOnlyList<string> arguments, string? standardInput = null)
    {
        _commands.Add(fileName + " " + string.Join(' ', arguments));
        return new ProcessResult(1, "", "RecordingRunner does not execute commands");
    }
}
