using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace SharpProxy.Interception.Platform;

/// <summary>
/// Everything the command reads from the machine: environment variables, local addresses, resolv.conf, the user
/// database, and the program runner. Tests substitute their own.
/// </summary>
internal sealed class HostEnvironment
{
    public required IReadOnlyDictionary<string, string> Variables { get; init; }

    /// <summary>Addresses of the network namespace being programmed, in interface order.</summary>
    public required Func<string?, IReadOnlyList<IPAddress>> LocalAddresses { get; init; }

    public string ResolvConfPath { get; init; } = "/etc/resolv.conf";

    public string PasswdPath { get; init; } = "/etc/passwd";

    public IProcessRunner Runner { get; init; } = ProcessRunner.Default;

    public static HostEnvironment FromCurrentProcess()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            variables[(string)e.Key] = e.Value as string ?? "";
        }

        return new HostEnvironment { Variables = variables, LocalAddresses = ReadLocalAddresses };
    }

    /// <summary>The unicast addresses of every interface, read inside <paramref name="namespacePath"/> when given.</summary>
    public static IReadOnlyList<IPAddress> ReadLocalAddresses(string? namespacePath)
    {
        static IReadOnlyList<IPAddress> Read() =>
            NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                .Select(a => a.Address)
                .ToList();

        return string.IsNullOrEmpty(namespacePath) ? Read() : NetworkNamespace.Run(namespacePath, Read);
    }

    /// <summary>
    /// Istio's <c>getLocalIP</c>: the first address that is not loopback or link-local decides whether IPv6 is
    /// enabled; with dual-stack the search continues until an IPv6 address is found. Null when there is none.
    /// </summary>
    public static (IPAddress Address, bool IsIPv6)? DetectHostIP(IReadOnlyList<IPAddress> addresses, bool dualStack)
    {
        IPAddress? first = null;
        bool isIPv6 = false;
        foreach (var raw in addresses)
        {
            var a = raw.IsIPv4MappedToIPv6 ? raw.MapToIPv4() : raw;
            if (IPAddress.IsLoopback(a) || a.IsIPv6LinkLocal || a.IsIPv6Multicast || IsIPv4LinkLocal(a))
            {
                continue;
            }

            isIPv6 = a.AddressFamily == AddressFamily.InterNetworkV6;
            first ??= a;
            if (!dualStack || isIPv6)
            {
                return (dualStack ? first : a, isIPv6);
            }
        }

        return first is null ? null : (first, isIPv6);
    }

    private static bool IsIPv4LinkLocal(IPAddress a)
    {
        if (a.AddressFamily != AddressFamily.InterNetwork)
        {
            return false;
        }

        var b = a.GetAddressBytes();
        return b[0] == 169 && b[1] == 254;
    }

    /// <summary><c>nameserver</c> entries of resolv.conf, split by family.</summary>
    public (IReadOnlyList<string> V4, IReadOnlyList<string> V6) ReadDnsServers()
    {
        var v4 = new List<string>();
        var v6 = new List<string>();
        foreach (var line in File.ReadLines(ResolvConfPath))
        {
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && fields[0] == "nameserver" && IPAddress.TryParse(fields[1], out var ip))
            {
                (ip.AddressFamily == AddressFamily.InterNetwork ? v4 : v6).Add(fields[1]);
            }
        }

        return (v4, v6);
    }

    /// <summary>The UID of <paramref name="user"/> from the passwd file, or null.</summary>
    public string? LookupUid(string user)
    {
        if (!File.Exists(PasswdPath))
        {
            return null;
        }

        foreach (var line in File.ReadLines(PasswdPath))
        {
            var fields = line.Split(':');
            if (fields.Length >= 3 && fields[0] == user)
            {
                return fields[2];
            }
        }

        return null;
    }
}
