using SharpProxy.Interception.Options;
using SharpProxy.Interception.Tests.TestSupport;

namespace SharpProxy.Interception.Tests.Options;

public sealed class IptablesOptionsParserTests
{
    private static readonly Dictionary<string, string> NoEnvironment = [];

    public static TheoryData<string[], string> BadFlags => new()
    {
        { ["-p", "abc"], "-p/--envoy-port" },
        { ["-p", "0"], "-p/--envoy-port" },
        { ["--envoy-port=70000"], "-p/--envoy-port" },
        { ["-z", "x"], "-z/--inbound-capture-port" },
        { ["-e", "-1"], "-e/--inbound-tunnel-port" },
        { ["-u", "root!"], "-u/--proxy-uid" },
        { ["-g", "1,x y"], "-g/--proxy-gid" },
        { ["-m", "FOO"], "-m/--istio-inbound-interception-mode" },
        { ["-b", "80,*"], "-b/--istio-inbound-ports" },
        { ["-b", "80,http"], "-b/--istio-inbound-ports" },
        { ["-d", "99999"], "-d/--istio-local-exclude-ports" },
        { ["-i", "10.0.0.0/33"], "-i/--istio-service-cidr" },
        { ["-i", "10.0.0.0"], "-i/--istio-service-cidr" },
        { ["-i", "*,10.0.0.0/8"], "-i/--istio-service-cidr" },
        { ["-x", "*"], "-x/--istio-service-exclude-cidr" },
        { ["-x", "1.2.3.4/8,foo/8"], "-x/--istio-service-exclude-cidr" },
        { ["-o", "0"], "-o/--istio-local-outbound-ports-exclude" },
        { ["-q", "http"], "-q/--istio-outbound-ports" },
        { ["-c", "eth0/1"], "-c/--istio-exclude-interfaces" },
        { ["-c", "waytoolonginterfacename"], "-c/--istio-exclude-interfaces" },
        { ["-k", "a b"], "-k/--kube-virt-interfaces" },
        { ["-t", "0"], "-t/--istio-inbound-tproxy-mark" },
        { ["-r", "254"], "-r/--istio-inbound-tproxy-route-table" },
        { ["--probe-timeout", "5"], "--probe-timeout" },
        { ["--iptables-probe-port", "x"], "--iptables-probe-port" },
        { ["--dry-run=maybe"], "--dry-run" },
        { ["--force-iptables-binary", "foo"], "--force-iptables-binary" },
        { ["--backend", "ebpf"], "--backend" },
        { ["--network-namespace", "/nonexistent/netns/x"], "--network-namespace" },
        { ["--enable-ipv6=perhaps"], "-6/--enable-ipv6" },
        { ["--nope"], "unknown flag: --nope" },
        { ["-Z"], "unknown shorthand flag: 'Z'" },
        { ["-p"], "flag needs an argument: -p/--envoy-port" },
        { ["-b", "*", "extra"], "unexpected argument \"extra\"" },
        { ["--native-nftables", "--backend", "iptables"], "--native-nftables conflicts with --backend iptables" },
    };

    [Theory]
    [MemberData(nameof(BadFlags))]
    public void Run_BadFlag_ExitsTwoNamingTheFlagAndRunsNothing(string[] args, string expected)
    {
        var runner = new RecordingRunner();

        var result = CommandHarness.Run(args, NoEnvironment, CommandHarness.PodIPv4, runner: runner);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.StandardError, StringComparison.Ordinal);
        Assert.Empty(result.StandardOutput);
        Assert.Empty(runner.Commands);
    }

    public static TheoryData<string, string, string> BadEnvironment => new()
    {
        { "ISTIO_INBOUND_PORTS", "abc", "environment variable ISTIO_INBOUND_PORTS (flag -b/--istio-inbound-ports)" },
        { "INBOUND_CAPTURE_PORT", "0", "environment variable INBOUND_CAPTURE_PORT (flag -z/--inbound-capture-port)" },
        { "ISTIO_SERVICE_EXCLUDE_CIDR", "*", "environment variable ISTIO_SERVICE_EXCLUDE_CIDR (flag -x/--istio-service-exclude-cidr)" },
        { "DRY_RUN", "yes", "environment variable DRY_RUN (flag -n/--dry-run)" },
        { "INVALID_DROP", "maybe", "environment variable INVALID_DROP (flag --drop-invalid)" },
        { "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR", "10.0.0.0/8", "environment variable ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR" },
        { "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR", "127.0.0.1/4", "environment variable ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR" },
        { "ISTIO_OUTBOUND_OWNER_GROUPS", string.Join(',', Enumerable.Range(1, 65)), "environment variable ISTIO_OUTBOUND_OWNER_GROUPS" },
    };

    [Theory]
    [MemberData(nameof(BadEnvironment))]
    public void Run_BadEnvironmentValue_ExitsTwoNamingVariableAndRunsNothing(string name, string value, string expected)
    {
        var runner = new RecordingRunner();

        var result = CommandHarness.Run(["-b", "*"], new Dictionary<string, string> { [name] = value }, CommandHarness.PodIPv4, runner: runner);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.StandardError, StringComparison.Ordinal);
        Assert.Empty(runner.Commands);
    }

    [Theory]
    [InlineData("-p15002")]
    [InlineData("-p=15002")]
    [InlineData("--envoy-port=15002")]
    public void Parse_ValueFlagSpellings_AllAccepted(string arg)
    {
        var options = IptablesOptionsParser.Parse([arg], NoEnvironment);

        Assert.Equal("15002", options!.ProxyPort);
    }

    [Fact]
    public void Parse_Defaults_MatchIstio()
    {
        var o = IptablesOptionsParser.Parse([], NoEnvironment)!;

        Assert.Equal(("15001", "15006", "15008"), (o.ProxyPort, o.InboundCapturePort, o.InboundTunnelPort));
        Assert.Equal(("1337", "133"), (o.InboundTProxyMark, o.InboundTProxyRouteTable));
        Assert.Equal(("", "", "", ""), (o.InboundPortsInclude, o.InboundPortsExclude, o.OutboundIPRangesInclude, o.OutboundIPRangesExclude));
        Assert.Equal(("*", ""), (o.OwnerGroupsInclude, o.OwnerGroupsExclude));
        Assert.Equal("127.0.0.1/32", o.HostIPv4LoopbackCidr);
        Assert.Equal(CaptureBackend.Iptables, o.Backend);
        Assert.Equal(TimeSpan.FromSeconds(5), o.ProbeTimeout);
        Assert.False(o.DryRun || o.CleanupOnly || o.ForceApply || o.RedirectDns);
    }

    [Fact]
    public void Parse_ListsWithSpacesAndEmptyItems_Normalised()
    {
        var o = IptablesOptionsParser.Parse(["-b", " 80, 443,,", "-i", "10.0.0.1/8, ::ffff:10.0.0.2/16", "-m", "tproxy"], NoEnvironment)!;

        Assert.Equal("80,443", o.InboundPortsInclude);
        Assert.Equal("10.0.0.1/8,10.0.0.2/16", o.OutboundIPRangesInclude);
        Assert.Equal("TPROXY", o.InboundInterceptionMode);
    }

    [Fact]
    public void Parse_BooleanForms_FollowGoParseBool()
    {
        Assert.True(IptablesOptionsParser.Parse(["-n"], NoEnvironment)!.DryRun);
        Assert.True(IptablesOptionsParser.Parse(["--cleanup-only=T"], NoEnvironment)!.CleanupOnly);
        Assert.False(IptablesOptionsParser.Parse(["--dry-run=false"], new Dictionary<string, string> { ["DRY_RUN"] = "true" })!.DryRun);
        Assert.True(IptablesOptionsParser.Parse([], new Dictionary<string, string> { ["ISTIO_META_DNS_CAPTURE"] = "1" })!.RedirectDns);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), IptablesOptionsParser.Parse(["--probe-timeout=1.5s"], NoEnvironment)!.ProbeTimeout);
    }

    [Fact]
    public void Parse_BackendChoices_Resolved()
    {
        Assert.Equal(CaptureBackend.Nftables, IptablesOptionsParser.Parse(["--native-nftables"], NoEnvironment)!.Backend);
        Assert.Equal(CaptureBackend.Nftables, IptablesOptionsParser.Parse(["--backend", "nftables"], NoEnvironment)!.Backend);
        var envNative = new Dictionary<string, string> { ["NATIVE_NFTABLES"] = "true" };
        Assert.Equal(CaptureBackend.Nftables, IptablesOptionsParser.Parse([], envNative)!.Backend);
        Assert.Equal(CaptureBackend.Iptables, IptablesOptionsParser.Parse(["--backend=iptables"], envNative)!.Backend);
    }

    [Fact]
    public void Run_Help_PrintsUsageAndExitsZero()
    {
        var result = CommandHarness.Run(["--help"], NoEnvironment, runner: new RecordingRunner());

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("-b, --istio-inbound-ports", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("--cleanup-only", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_PublicEntryPoint_PrintsUsage()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = IptablesCommand.Run(["-h"], stdout, stderr);

        Assert.Equal(0, code);
        Assert.StartsWith("Usage: sharpproxy iptables", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_CleanupDryRunNftables_PrintsTableDeletesOnly()
    {
        var result = CommandHarness.Run(["--backend", "nftables", "--cleanup-only", "-n"], NoEnvironment, runner: new RecordingRunner());

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            "# nft -f -\nadd table inet istio-proxy-nat\ndelete table inet istio-proxy-nat\nadd table inet istio-proxy-mangle\n" +
            "delete table inet istio-proxy-mangle\nadd table inet istio-proxy-raw\ndelete table inet istio-proxy-raw\n",
            result.StandardOutput);
    }
}
