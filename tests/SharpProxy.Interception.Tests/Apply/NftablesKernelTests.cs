using System.Net;
using System.Net.Sockets;
using SharpProxy.Interception.Tests.TestSupport;

namespace SharpProxy.Interception.Tests.Apply;

/// <summary>Real-kernel tests of the native nftables backend, each in its own temporary network namespace.</summary>
public sealed class NftablesKernelTests
{
    private static readonly string[] Injector =
        ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"];

    [Fact]
    public void Apply_InjectorDefaults_CreatesTablesIdempotentlyAndCleanupRemovesThem()
    {
        using var ns = TestNetworkNamespace.Create("nft");
        string[] args = ["--backend", "nftables", .. Injector, "-6", "--network-namespace", ns.Path];

        var apply = Command(args);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        string ruleset = ns.Must("nft", "list", "ruleset");
        Assert.Contains("table inet istio-proxy-nat", ruleset, StringComparison.Ordinal);
        foreach (var chain in new[] { "prerouting", "output", "istio-inbound", "istio-redirect", "istio-in-redirect", "istio-output" })
        {
            Assert.Contains($"chain {chain} {{", ruleset, StringComparison.Ordinal);
        }

        Assert.Contains("tcp dport 15020 return", ruleset, StringComparison.Ordinal);
        Assert.Contains("redirect to :15001", ruleset, StringComparison.Ordinal);
        Assert.Contains("ip6 saddr ::6 return", ruleset, StringComparison.Ordinal);

        var again = Command(args);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(ruleset, ns.Must("nft", "list", "ruleset"));

        var cleanup = Command([.. args, "--cleanup-only"]);
        Assert.True(cleanup.ExitCode == 0, cleanup.ToString());
        Assert.DoesNotContain("istio", ns.Must("nft", "list", "ruleset"), StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_TproxyWithDns_LoadsAllThreeTablesAndCleansUp()
    {
        using var ns = TestNetworkNamespace.Create("nft");
        string[] args =
        [
            "--backend", "nftables", "-m", "TPROXY", "-b", "*", "-i", "*", "-x", "10.96.0.0/12", "-c", "eth9",
            "--redirect-dns", "--capture-all-dns", "--drop-invalid", "-6", "--network-namespace", ns.Path,
        ];

        var apply = Command(args);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        string ruleset = ns.Must("nft", "list", "ruleset");
        Assert.Contains("table inet istio-proxy-mangle", ruleset, StringComparison.Ordinal);
        Assert.Contains("table inet istio-proxy-raw", ruleset, StringComparison.Ordinal);
        Assert.Contains("tproxy ip to :15006", ruleset, StringComparison.Ordinal);
        Assert.Contains("type route hook output", ruleset, StringComparison.Ordinal);
        Assert.Contains("fwmark 0x539 lookup 133", ns.Must("ip", "-6", "rule", "show"), StringComparison.Ordinal);

        var cleanup = Command([.. args, "--cleanup-only"]);
        Assert.True(cleanup.ExitCode == 0, cleanup.ToString());
        Assert.DoesNotContain("istio", ns.Must("nft", "list", "ruleset"), StringComparison.Ordinal);
        Assert.DoesNotContain("fwmark", ns.Must("ip", "-4", "rule", "show"), StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_OutboundCapture_RedirectedConnectionKeepsOriginalDestination()
    {
        using var ns = TestNetworkNamespace.Create("nft");
        ns.AddPodInterface();
        var apply = Command(["--backend", "nftables", "-i", "*", "--enable-ipv6=false", "--network-namespace", ns.Path]);
        Assert.True(apply.ExitCode == 0, apply.ToString());

        var target = new IPEndPoint(IPAddress.Parse("10.99.0.1"), 8080);
        var original = ns.Run(() =>
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Any, 15001));
            listener.Listen(4);
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            client.Connect(target);
            using var accepted = listener.Accept();
            return OriginalDestination.TryGet(accepted, out var ep) ? ep : null;
        });

        Assert.Equal(target, original);
    }

    [Fact]
    public void DryRun_Nftables_ChangesNothing()
    {
        using var ns = TestNetworkNamespace.Create("nft");

        var dry = Command(["--backend", "nftables", .. Injector, "-6", "--dry-run", "--network-namespace", ns.Path]);

        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Contains("add table inet istio-proxy-nat", dry.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("istio", ns.Must("nft", "list", "ruleset"), StringComparison.Ordinal);
    }

    private static CommandResult Command(string[] args) => CommandHarness.Run(args, new Dictionary<string, string>());
}
