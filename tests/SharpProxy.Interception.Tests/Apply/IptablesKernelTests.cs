using System.Text.RegularExpressions;
using SharpProxy.Interception.Tests.TestSupport;

namespace SharpProxy.Interception.Tests.Apply;

/// <summary>
/// Real-kernel tests (root): every apply and cleanup happens inside a freshly created network namespace that is
/// deleted afterwards; the command programs it through <c>--network-namespace</c> (nsenter), exactly as it would a pod.
/// </summary>
public sealed partial class IptablesKernelTests
{
    private static readonly string[] Injector =
        ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"];

    private static readonly string[] Chains = ["ISTIO_INBOUND", "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT"];

    [Theory]
    [InlineData("nft")]
    [InlineData("legacy")]
    public void Apply_InjectorDefaults_CreatesChainsIdempotentlyAndCleanupRemovesAll(string variant)
    {
        using var ns = TestNetworkNamespace.Create($"iptables-{variant}-save", $"ip6tables-{variant}-save");
        string[] args = [.. Injector, "-6", "--force-iptables-binary", variant, "--network-namespace", ns.Path];

        var first = Command(args);
        Assert.True(first.ExitCode == 0, first.ToString());
        string v4 = Save(ns, $"iptables-{variant}-save");
        string v6 = Save(ns, $"ip6tables-{variant}-save");
        foreach (var chain in Chains)
        {
            Assert.Contains($":{chain} - [0:0]", v4, StringComparison.Ordinal);
            Assert.Contains($":{chain} - [0:0]", v6, StringComparison.Ordinal);
        }

        Assert.Contains("-A OUTPUT -j ISTIO_OUTPUT", v4, StringComparison.Ordinal);
        Assert.Contains("-A PREROUTING -p tcp -j ISTIO_INBOUND", v4, StringComparison.Ordinal);
        Assert.Contains("-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN", v4, StringComparison.Ordinal);
        Assert.Contains("-A ISTIO_OUTPUT -s ::6/128 -o lo -j RETURN", v6, StringComparison.Ordinal);
        Assert.Matches("-A ISTIO_INBOUND -p tcp (-m tcp )?--dport 15020 -j RETURN", v4);
        Assert.Equal(PlannedRuleCount(args, "IPv4"), CountRules(v4));
        Assert.Equal(PlannedRuleCount(args, "IPv6"), CountRules(v6));
        Assert.Contains("inet6 ::6/128", ns.Must("ip", "-6", "addr", "show", "dev", "lo"), StringComparison.Ordinal);

        var again = Command(args);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("already installed", again.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(v4, Save(ns, $"iptables-{variant}-save"));
        Assert.Equal(v6, Save(ns, $"ip6tables-{variant}-save"));

        var forced = Command([.. args, "--force-apply"]);
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.Contains("applied", forced.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(v4, Save(ns, $"iptables-{variant}-save"));
        Assert.Equal(v6, Save(ns, $"ip6tables-{variant}-save"));

        var cleanup = Command([.. args, "--cleanup-only"]);
        Assert.True(cleanup.ExitCode == 0, cleanup.ToString());
        Assert.DoesNotContain("ISTIO", Save(ns, $"iptables-{variant}-save"), StringComparison.Ordinal);
        Assert.DoesNotContain("ISTIO", Save(ns, $"ip6tables-{variant}-save"), StringComparison.Ordinal);

        var cleanupAgain = Command([.. args, "--cleanup-only"]);
        Assert.True(cleanupAgain.ExitCode == 0, cleanupAgain.ToString());
    }

    [Fact]
    public void Apply_DefaultDetection_UsesNftVariantAndCleanupNeedsNoFlags()
    {
        using var ns = TestNetworkNamespace.Create("iptables-nft-save", "iptables-legacy-save");
        ns.AddPodInterface();

        var apply = Command([.. Injector, "--network-namespace", ns.Path]);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Contains("nf_tables", apply.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("ip6tables", apply.StandardError, StringComparison.Ordinal);
        Assert.Contains(":ISTIO_OUTPUT", Save(ns, "iptables-nft-save"), StringComparison.Ordinal);
        Assert.Equal("", Save(ns, "iptables-legacy-save").Trim());

        var cleanup = Command(["--cleanup-only", "--network-namespace", ns.Path]);
        Assert.True(cleanup.ExitCode == 0, cleanup.ToString());
        Assert.DoesNotContain("ISTIO", Save(ns, "iptables-nft-save"), StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_ChangedFlags_ReplacesPreviousRulesWithoutLeftovers()
    {
        using var ns = TestNetworkNamespace.Create("iptables-nft-save");
        string[] common = ["--enable-ipv6=false", "--network-namespace", ns.Path];

        var first = Command(["-b", "*", "-i", "*", "-o", "5432", .. common]);
        Assert.True(first.ExitCode == 0, first.ToString());

        string[] second = ["-b", "8080,9090", "-q", "6379", "-c", "eth9", .. common];
        var replace = Command(second);
        Assert.True(replace.ExitCode == 0, replace.ToString());
        string v4 = Save(ns, "iptables-nft-save");
        Assert.Matches("-A ISTIO_INBOUND -p tcp (-m tcp )?--dport 8080 -j ISTIO_IN_REDIRECT", v4);
        Assert.DoesNotMatch("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT", v4);
        Assert.DoesNotContain("5432", v4, StringComparison.Ordinal);
        Assert.DoesNotMatch("-A ISTIO_OUTPUT -j ISTIO_REDIRECT", v4);
        Assert.Single(Regex.Matches(v4, "-A OUTPUT -j ISTIO_OUTPUT"));
        Assert.Single(Regex.Matches(v4, "-A PREROUTING -i eth9 -j RETURN"));
        Assert.Equal(PlannedRuleCount(second, "IPv4"), CountRules(v4));

        var cleanup = Command(["--cleanup-only", .. second]);
        Assert.True(cleanup.ExitCode == 0, cleanup.ToString());
        string after = Save(ns, "iptables-nft-save");
        Assert.DoesNotContain("ISTIO", after, StringComparison.Ordinal);
        Assert.DoesNotContain("eth9", after, StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_Tproxy_InstallsMangleRulesAndPolicyRouteOnce()
    {
        using var ns = TestNetworkNamespace.Create("iptables-nft-save");
        string[] args = ["-m", "TPROXY", "-b", "*", "-i", "*", "-c", "eth9", "--enable-ipv6=false", "--network-namespace", ns.Path];

        var apply = Command(args);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        var reapply = Command([.. args, "--force-apply"]);
        Assert.True(reapply.ExitCode == 0, reapply.ToString());

        string v4 = Save(ns, "iptables-nft-save");
        Assert.Contains(":ISTIO_DIVERT - [0:0]", v4, StringComparison.Ordinal);
        Assert.Contains(":ISTIO_TPROXY - [0:0]", v4, StringComparison.Ordinal);
        Assert.Contains("--on-port 15006", v4, StringComparison.Ordinal);
        Assert.Equal(PlannedRuleCount(args, "IPv4"), CountRules(v4));
        Assert.Single(Regex.Matches(ns.Must("ip", "-4", "rule", "show"), "fwmark 0x539 lookup 133"));
        Assert.Contains("local default dev lo", ns.Must("ip", "-4", "route", "show", "table", "133"), StringComparison.Ordinal);

        var cleanup = Command([.. args, "--cleanup-only"]);
        Assert.True(cleanup.ExitCode == 0, cleanup.ToString());
        string after = Save(ns, "iptables-nft-save");
        Assert.DoesNotContain("ISTIO", after, StringComparison.Ordinal);
        Assert.DoesNotContain("CONNMARK", after, StringComparison.Ordinal);
        Assert.DoesNotContain("eth9", after, StringComparison.Ordinal);
        Assert.DoesNotContain("fwmark", ns.Must("ip", "-4", "rule", "show"), StringComparison.Ordinal);
    }

    [Fact]
    public void DryRunAndBadFlag_InNamespace_ChangeNothing()
    {
        using var ns = TestNetworkNamespace.Create("iptables-nft-save", "iptables-legacy-save");
        string[] args = [.. Injector, "-6", "--network-namespace", ns.Path];

        var dry = Command([.. args, "--dry-run"]);
        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Contains("-A OUTPUT -j ISTIO_OUTPUT", dry.StandardOutput, StringComparison.Ordinal);

        var bad = Command([.. args, "-q", "http"]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("-q/--istio-outbound-ports", bad.StandardError, StringComparison.Ordinal);

        Assert.DoesNotContain("ISTIO", Save(ns, "iptables-nft-save"), StringComparison.Ordinal);
        Assert.DoesNotContain("ISTIO", Save(ns, "ip6tables-nft-save"), StringComparison.Ordinal);
        Assert.Equal("", Save(ns, "iptables-legacy-save").Trim());
        Assert.DoesNotContain("::6", ns.Must("ip", "-6", "addr", "show", "dev", "lo"), StringComparison.Ordinal);
    }

    [Fact]
    public void RunValidation_ProxyUidIsTheCaller_PassesWhenRulesRedirect()
    {
        using var ns = TestNetworkNamespace.Create("iptables-nft-save");

        // The validator's dial is only captured for the proxy UID; this test process is root, so make root the proxy.
        var ok = Command(["-u", "0", "-g", "0", "-b", "*", "-i", "*", "--enable-ipv6=false", "--run-validation", "--network-namespace", ns.Path]);
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("validation passed", ok.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void RunValidation_NoRules_Exits126()
    {
        using var ns = TestNetworkNamespace.Create("iptables-nft-save");

        var failed = Command(["--skip-rule-apply", "--run-validation", "--probe-timeout", "2s", "--enable-ipv6=false", "--network-namespace", ns.Path]);

        Assert.Equal(126, failed.ExitCode);
        Assert.Contains("validation failed", failed.StandardError, StringComparison.Ordinal);
    }

    private static CommandResult Command(string[] args) => CommandHarness.Run(args, new Dictionary<string, string>());

    /// <summary>iptables-save without comments and counters, so two saves of the same rules compare equal.</summary>
    internal static string Save(TestNetworkNamespace ns, string saveBinary)
    {
        string raw = ns.Must(saveBinary);
        return string.Join('\n', raw.Split('\n').Where(l => !l.StartsWith('#')).Select(l => CounterPattern().Replace(l, "[0:0]")));
    }

    /// <summary>Rule lines in the saved state that belong to the capture (our chains, and jumps into them).</summary>
    private static int CountRules(string save) =>
        save.Split('\n').Count(l => l.StartsWith("-A ", StringComparison.Ordinal));

    /// <summary>The number of -A/-I lines the dry run plans for a family (the namespace starts without any rules).</summary>
    private static int PlannedRuleCount(string[] args, string family)
    {
        var dry = CommandHarness.Run([.. args, "--dry-run"], new Dictionary<string, string>(), runner: new RecordingRunner());
        Assert.Equal(0, dry.ExitCode);
        var lines = dry.StandardOutput.Split('\n');
        int start = Array.FindIndex(lines, l => l.StartsWith("# ", StringComparison.Ordinal) && l.Contains($"({family})", StringComparison.Ordinal));
        Assert.True(start >= 0, $"no {family} section in:\n{dry.StandardOutput}");
        return lines.Skip(start + 1).TakeWhile(l => !l.StartsWith("# ", StringComparison.Ordinal))
            .Count(l => l.StartsWith("-A ", StringComparison.Ordinal) || l.StartsWith("-I ", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"\[\d+:\d+\]")]
    private static partial Regex CounterPattern();
}
