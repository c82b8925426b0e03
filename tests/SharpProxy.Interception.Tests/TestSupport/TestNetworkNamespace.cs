using SharpProxy.Interception.Platform;

namespace SharpProxy.Interception.Tests.TestSupport;

/// <summary>
/// Checks what the kernel tests need and fails with an actionable message (never skips): root, and the programs
/// from the Debian packages iptables, nftables, iproute2 (and util-linux's nsenter).
/// </summary>
internal static class KernelPrerequisites
{
    public const string Packages = "apt-get install -y iptables nftables iproute2";

    public static void Require(params string[] programs)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException("this test needs Linux network namespaces");
        }

        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("this test needs root (it creates network namespaces and programs netfilter inside them)");
        }

        foreach (var program in new[] { "ip", "nsenter" }.Concat(programs))
        {
            if (!OnPath(program))
            {
                throw new InvalidOperationException($"this test needs '{program}' on PATH; install it with: {Packages}");
            }
        }
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin"])
            .Any(dir => File.Exists(Path.Combine(dir, program)));
}

/// <summary>
/// A network namespace with a unique name, deleted on dispose (use with <c>using</c>, which disposes in a finally).
/// Everything a test does to netfilter happens inside it; the host's own rules are never touched.
/// </summary>
internal sealed class TestNetworkNamespace : IDisposable
{
    private TestNetworkNamespace(string name) => Name = name;

    public string Name { get; }

    public string Path => "/var/run/netns/" + Name;

    public static TestNetworkNamespace Create(params string[] programs)
    {
        KernelPrerequisites.Require(programs);
        var ns = new TestNetworkNamespace("sp-icpt-" + Guid.NewGuid().ToString("N")[..10]);
        var created = ProcessRunner.Default.Run("ip", ["netns", "add", ns.Name]);
        if (!created.Success)
        {
            throw new InvalidOperationException($"ip netns add {ns.Name} failed: {created.StandardError}");
        }

        try
        {
            ns.Must("ip", "link", "set", "lo", "up");
        }
        catch
        {
            ns.Dispose();
            throw;
        }

        return ns;
    }

    /// <summary>Adds a veth pair (both ends here) with 10.99.0.2/24 and fd00:99::2/64 so routes to "remote" hosts exist.</summary>
    public void AddPodInterface()
    {
        Must("ip", "link", "add", "va", "type", "veth", "peer", "name", "vb");
        Must("ip", "addr", "add", "10.99.0.2/24", "dev", "va");
        Must("ip", "-6", "addr", "add", "fd00:99::2/64", "dev", "va", "nodad");
        Must("ip", "link", "set", "va", "up");
        Must("ip", "link", "set", "vb", "up");
    }

    /// <summary>Runs a program inside the namespace.</summary>
    public ProcessResult Exec(params string[] command) =>
        ProcessRunner.Default.Run("ip", ["netns", "exec", Name, .. command]);

    public string Must(params string[] command)
    {
        var r = Exec(command);
        if (!r.Success)
        {
            throw new InvalidOperationException($"'{string.Join(' ', command)}' in {Name} failed (exit {r.ExitCode}): {r.StandardError}");
        }

        return r.StandardOutput;
    }

    /// <summary>Runs <paramref name="work"/> on a thread inside the namespace (sockets created there stay there).</summary>
    public T Run<T>(Func<T> work) => NetworkNamespace.Run(Path, work);

    public void Dispose() => ProcessRunner.Default.Run("ip", ["netns", "del", Name]);
}
