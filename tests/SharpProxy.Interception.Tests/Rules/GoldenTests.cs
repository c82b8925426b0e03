using System.Net;
using System.Text;
using SharpProxy.Interception.Tests.TestSupport;

namespace SharpProxy.Interception.Tests.Rules;

/// <summary>
/// Compares <c>sharpproxy iptables --dry-run</c> line by line with Golden/*.golden, written from Istio's published
/// goldens (tools/istio-iptables/pkg/capture/testdata, tools/istio-nftables/pkg/capture/testdata); see Golden/README.md.
/// </summary>
public sealed class GoldenTests
{
    private const string Resolv4 = "nameserver 127.0.0.53\n";
    private const string Resolv46 = "nameserver 127.0.0.53\nnameserver ::127.0.0.53\n";

    private static readonly string[] Injector =
        ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020",
         "--log_output_level=default:info"];

    private sealed record Case(string[] Args, Dictionary<string, string>? Env = null, bool IPv6Host = false, string? Resolv = null);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["empty"] = new([]),
        ["injector-defaults"] = new(Injector),
        ["inbound-ports-wildcard"] = new(["-b", "*"]),
        ["inbound-ports-include"] = new(["-b", "32000,31000"]),
        ["inbound-ports-include-with-exclude"] = new(["-b", "32000,31000", "-d", "15090,15021,15020"]),
        ["inbound-wildcard-exclude"] = new(["-b", "*", "-d", "22,80,443"]),
        ["ipnets"] = new(["-i", "10.0.0.0/8"]),
        ["service-cidr-exclude"] = new(["-i", "*", "-x", "10.96.0.0/12,192.168.0.0/16"]),
        ["ip-range"] = new(["-x", "1.1.0.0/16", "-i", "9.9.0.0/16", "-u", "3,4", "-g", "1,2", "--redirect-dns"], Resolv: Resolv4),
        ["loopback-outbound-iprange"] = new(["-i", "127.1.2.3/32", "--redirect-dns", "-u", "3,4", "-g", "1,2"], Resolv: Resolv4),
        ["dns-uid-gid"] = new(["--redirect-dns", "-u", "3,4", "-g", "1,2", "-6"], Resolv: Resolv46),
        ["outbound-ports-include"] = new(["-q", "32000,31000"]),
        ["outbound-ports-exclude"] = new(["-o", "22,80,443"]),
        ["basic-exclude-nic"] = new(["-c", "not-istio-nic"]),
        ["kube-virt-interfaces"] = new(["-k", "eth1,eth2", "-i", "*"]),
        ["drop-invalid"] = new(["--drop-invalid"]),
        ["host-ipv4-loopback-cidr"] = new([], new() { ["ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR"] = "127.0.0.1/8" }),
        ["outbound-owner-groups"] = new([], new() { ["ISTIO_OUTBOUND_OWNER_GROUPS"] = "java,202" }),
        ["outbound-owner-groups-exclude"] = new([], new() { ["ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE"] = "888,ftp" }),
        ["inbound-ports-tproxy"] = new(["-m", "TPROXY", "-b", "32000,31000"]),
        ["inbound-ports-wildcard-tproxy"] = new(["-m", "TPROXY", "-b", "*"]),
        ["tproxy"] = new(
            ["-m", "TPROXY", "-b", "*", "-x", "1.1.0.0/16", "-i", "9.9.0.0/16", "--redirect-dns", "-u", "1337", "-g", "1337",
             "-c", "not-istio-nic", "--enable-ipv6"], Resolv: Resolv4),
        ["ipv6-inbound-ports"] = new(["-b", "4000,5000"], IPv6Host: true),
        ["ipv6-empty-inbound-ports"] = new([], IPv6Host: true),
        ["ipv6-outbound-ports"] = new(["-q", "32000,31000"], IPv6Host: true),
        ["ipv6-ipnets"] = new(
            ["-b", "4000,5000", "-d", "6000,7000,", "-k", "eth0,eth1", "-x", "2001:db8::/32", "-i", "2001:db8::/32"], IPv6Host: true),
        ["ipv6-uid-gid"] = new(
            ["-b", "4000,5000", "-d", "6000,7000", "-k", "eth0,eth1", "-u", "3,4", "-g", "1,2", "-x", "2001:db8::/32", "-i", "2001:db8::/32"],
            IPv6Host: true),
        ["nft-empty"] = new(["--backend", "nftables"]),
        ["nft-inbound-ports-wildcard"] = new(["--native-nftables", "-b", "*"]),
        ["nft-injector-defaults"] = new(["--backend", "nftables", .. Injector]),
        ["nft-ipv6-inbound-ports"] = new(["--backend", "nftables", "-b", "4000,5000", "-6"]),
        ["nft-tproxy"] = new(
            ["--backend", "nftables", "-m", "TPROXY", "-b", "*", "-x", "1.1.0.0/16", "-i", "9.9.0.0/16", "--redirect-dns",
             "-c", "not-istio-nic", "-6"], Resolv: Resolv4),
    };

    public static TheoryData<string> Names => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(Names))]
    public void DryRun_FlagCombination_MatchesGolden(string name)
    {
        var c = Cases[name];
        var result = CommandHarness.Run(
            [.. c.Args, "--dry-run"],
            c.Env,
            c.IPv6Host ? CommandHarness.PodIPv6 : CommandHarness.PodIPv4,
            c.Resolv,
            runner: new RecordingRunner());

        Assert.True(result.ExitCode == 0, result.ToString());
        AssertMatchesGolden(name, result.StandardOutput);
    }

    [Fact]
    public void AllGoldenFiles_HaveACase_NoOrphans()
    {
        var files = Directory.GetFiles(GoldenDirectory, "*.golden").Select(f => Path.GetFileNameWithoutExtension(f)!).Order();
        Assert.Equal(files, Cases.Keys.Order());
    }

    [Fact]
    public void DryRun_FlagsFromEnvironment_MatchFlagGolden()
    {
        var env = new Dictionary<string, string>
        {
            ["ISTIO_INBOUND_PORTS"] = "*",
            ["ISTIO_LOCAL_EXCLUDE_PORTS"] = "15090,15021,15020",
            ["ISTIO_SERVICE_CIDR"] = "*",
            ["PROXY_UID"] = "1337",
            ["ISTIO_INBOUND_INTERCEPTION_MODE"] = "REDIRECT",
            ["INBOUND_CAPTURE_PORT"] = "15006",
            ["DRY_RUN"] = "true",
        };

        var result = CommandHarness.Run([], env, CommandHarness.PodIPv4, runner: new RecordingRunner());

        Assert.True(result.ExitCode == 0, result.ToString());
        AssertMatchesGolden("injector-defaults", result.StandardOutput);
    }

    [Fact]
    public void DryRun_FlagAndEnvironmentBothSet_FlagWins()
    {
        var env = new Dictionary<string, string> { ["ISTIO_INBOUND_PORTS"] = "8080", ["ISTIO_SERVICE_CIDR"] = "10.0.0.0/8" };

        var result = CommandHarness.Run(["-b", "*", "-i", "", "-n"], env, CommandHarness.PodIPv4, runner: new RecordingRunner());

        Assert.True(result.ExitCode == 0, result.ToString());
        AssertMatchesGolden("inbound-ports-wildcard", result.StandardOutput);
    }

    [Fact]
    public void DryRun_EnvoyUserInPasswd_UsesItsUid()
    {
        var env = new Dictionary<string, string> { ["ENVOY_USER"] = "envoy" };

        var result = CommandHarness.Run(["-n"], env, CommandHarness.PodIPv4, passwd: "root:x:0:0::/root:/bin/sh\nenvoy:x:4242:4242::/:/sbin/nologin\n",
            runner: new RecordingRunner());

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("-A ISTIO_OUTPUT -m owner --uid-owner 4242 -j RETURN", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("-A ISTIO_OUTPUT -m owner --gid-owner 4242 -j RETURN", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void DryRun_DualStackHostWithIPv4First_EnablesIPv6OnlyWithDualStack()
    {
        IPAddress[] addresses = [IPAddress.Loopback, IPAddress.Parse("10.1.0.5"), IPAddress.Parse("fd00::5")];

        var single = CommandHarness.Run(["-n"], addresses: addresses, runner: new RecordingRunner());
        var dual = CommandHarness.Run(["-n", "--dual-stack"], addresses: addresses, runner: new RecordingRunner());

        Assert.DoesNotContain("ip6tables-restore", single.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("# ip6tables-restore --noflush (IPv6)", dual.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void DryRun_NoUsableLocalAddress_FailsLikeIstio()
    {
        var result = CommandHarness.Run(["-n"], addresses: [IPAddress.Loopback, IPAddress.Parse("fe80::1")], runner: new RecordingRunner());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no valid local IP address found", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void DryRun_Always_ExecutesNothing()
    {
        var runner = new RecordingRunner();

        var result = CommandHarness.Run([.. Injector, "-m", "TPROXY", "--dry-run", "-6"], runner: runner);

        Assert.Equal(0, result.ExitCode);
        Assert.Empty(runner.Commands);
    }

    [Fact]
    public void DryRunCleanup_Iptables_ListsIstioStyleDeletes()
    {
        var result = CommandHarness.Run([.. Injector, "--cleanup-only", "-n"], runner: new RecordingRunner());

        Assert.Equal(0, result.ExitCode);
        var lines = result.StandardOutput.Split('\n');
        Assert.Contains("iptables -t nat -D OUTPUT -j ISTIO_OUTPUT", lines);
        Assert.Contains("iptables -t nat -D PREROUTING -p tcp -j ISTIO_INBOUND", lines);
        Assert.Contains("iptables -t nat -X ISTIO_IN_REDIRECT", lines);
        Assert.Contains("ip6tables -t nat -X ISTIO_OUTPUT", lines);
    }

    internal static string GoldenDirectory => Path.Combine(AppContext.BaseDirectory, "Golden");

    internal static void AssertMatchesGolden(string name, string actual)
    {
        string path = Path.Combine(GoldenDirectory, name + ".golden");
        var expected = File.ReadAllText(path).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var got = actual.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var diff = new StringBuilder();
        for (int i = 0; i < Math.Max(expected.Length, got.Length); i++)
        {
            string e = i < expected.Length ? expected[i] : "<missing>";
            string g = i < got.Length ? got[i] : "<missing>";
            if (e != g)
            {
                diff.Append("line ").Append(i + 1).Append(":\n  expected: ").Append(e).Append("\n  actual:   ").Append(g).Append('\n');
            }
        }

        Assert.True(diff.Length == 0, $"{name}.golden differs:\n{diff}\nfull output:\n{actual}");
    }
}
