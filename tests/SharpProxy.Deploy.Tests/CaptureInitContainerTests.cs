using System.Net;
using SharpProxy.Interception;
using SharpProxy.Interception.Options;
using SharpProxy.Interception.Platform;
using Xunit.Abstractions;

namespace SharpProxy.Deploy.Tests;

/// <summary>
/// Every <c>sharpproxy iptables</c> init container: Istio's istio-init flags exactly, accepted by the real
/// <see cref="IptablesOptionsParser"/>, producing rules in a dry run, with the capabilities iptables needs, and
/// consistent with the proxy container beside it (UID, excluded ports, listener ports).
/// </summary>
public sealed class CaptureInitContainerTests(ITestOutputHelper output)
{
    /// <summary>What Istio's injector passes to istio-iptables by default (pkg/kube/inject/testdata/inject/hello.yaml.injected).</summary>
    private static readonly string[] IstioInitArgs =
        ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"];

    private static readonly Dictionary<string, string> NoEnvironment = new(StringComparer.Ordinal);

    public static TheoryData<string, string> Containers => PodChecks.CaptureInitContainers();

    [Fact]
    public void TheSidecarPods_HaveACaptureInitContainer()
    {
        Assert.Single(DeployTree.Pod(DeployTree.IstioTemplatePodId).CaptureInitContainers);
        Assert.Single(DeployTree.Pods.Single(p => p.Folder == "plain").CaptureInitContainers);
        Assert.All(DeployTree.Pods.Where(p => p.Folder is "gateway" or "perf"), p => Assert.Empty(p.CaptureInitContainers));
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void Args_AreIstiosInitFlags(string podId, string containerName)
    {
        var container = DeployTree.Pod(podId).Container(containerName);

        Assert.Null(container.Find("command"));
        Assert.Equal(["iptables", .. IstioInitArgs], container.Strings("args"));
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void Args_ParseWithSharpProxysIptablesParser(string podId, string containerName)
    {
        var args = DeployTree.Pod(podId).Container(containerName).Strings("args")[1..];

        var options = IptablesOptionsParser.Parse(args, NoEnvironment);

        Assert.NotNull(options);
        Assert.Equal("15001", options.ProxyPort);
        Assert.Equal("15006", options.InboundCapturePort);
        Assert.Equal(PodChecks.ProxyUid, options.ProxyUid);
        Assert.Equal("REDIRECT", options.InboundInterceptionMode);
        Assert.Equal("*", options.OutboundIPRangesInclude);
        Assert.Equal("", options.OutboundIPRangesExclude);
        Assert.Equal("*", options.InboundPortsInclude);
        Assert.Equal("15090,15021,15020", options.InboundPortsExclude);
        Assert.False(options.DryRun);
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void Args_ProduceRedirectRulesInADryRun(string podId, string containerName)
    {
        var args = DeployTree.Pod(podId).Container(containerName).Strings("args")[1..];
        // A pod address for the rule generator; nothing is sent anywhere (dry run, no process is started).
        var host = new HostEnvironment { Variables = NoEnvironment, LocalAddresses = _ => [IPAddress.Parse("10.1.0.5")] };
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var exitCode = IptablesCommand.Run([.. args, "--dry-run"], stdout, stderr, host);

        output.WriteLine(stdout.ToString());
        Assert.True(exitCode == IptablesCommand.Success, stderr.ToString());
        var rules = stdout.ToString();
        Assert.Contains("--to-ports 15001", rules, StringComparison.Ordinal);
        Assert.Contains("--to-ports 15006", rules, StringComparison.Ordinal);
        Assert.Contains("--uid-owner 1337", rules, StringComparison.Ordinal);
        Assert.Contains("--dport 15021 -j RETURN", rules, StringComparison.Ordinal);
        Assert.Contains("--dport 15090 -j RETURN", rules, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void SecurityContext_IsRootWithNetAdminAndNetRawOnly(string podId, string containerName)
    {
        var security = DeployTree.Pod(podId).Container(containerName).SecurityContext()!;

        Assert.Equal("0", security.Str("runAsUser"));
        Assert.Equal("false", security.Str("runAsNonRoot"));
        Assert.Equal("false", security.Str("privileged"));
        Assert.Equal("false", security.Str("allowPrivilegeEscalation"));
        Assert.Equal(["NET_ADMIN", "NET_RAW"], security.Map("capabilities").Strings("add").Order(StringComparer.Ordinal));
        Assert.Equal(["ALL"], security.Map("capabilities").Strings("drop"));
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void Rules_FitTheProxyBesideThem(string podId, string containerName)
    {
        var pod = DeployTree.Pod(podId);
        var options = IptablesOptionsParser.Parse(pod.Container(containerName).Strings("args")[1..], NoEnvironment)!;
        var proxy = Assert.Single(pod.ProxyContainers);
        var commandLine = ProxyCommandLine.Parse(proxy.Strings("args"));
        var (_, _, text) = pod.MountedConfigMapFile(proxy, commandLine.ConfigPath);
        var listenerPorts = Yaml.LoadDocuments(text, "bootstrap").Single().Map("static_resources").Maps("listeners")
            .Select(l => l.Map("address").Map("socket_address").Str("port_value"))
            .ToList();
        var excluded = options.InboundPortsExclude.Split(',');

        // The exempt UID is the proxy's own, or the proxy's outbound connections would be captured again.
        Assert.Equal(options.ProxyUid, proxy.SecurityContext()!.Str("runAsUser"));
        // Probes and scrapes reach the proxy's own ports, not the inbound capture listener.
        Assert.Contains(commandLine.ValueOf("--readiness-port"), excluded);
        Assert.Contains(commandLine.ValueOf("--prometheus-port"), excluded);
        // Someone listens where the rules send the traffic.
        Assert.Contains(options.ProxyPort, listenerPorts);
        Assert.Contains(options.InboundCapturePort, listenerPorts);
        // The app never runs as the exempt UID (its traffic would bypass the proxy).
        foreach (var app in pod.Containers.Where(c => !pod.ProxyContainers.Contains(c)))
        {
            Assert.NotEqual(options.ProxyUid, app.SecurityContext()?.StrOrNull("runAsUser"));
        }
    }
}
