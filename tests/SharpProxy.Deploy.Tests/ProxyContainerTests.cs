using System.Globalization;
using SharpProxy.Testing;
using Xunit.Abstractions;
using YamlDotNet.RepresentationModel;

namespace SharpProxy.Deploy.Tests;

/// <summary>
/// Every SharpProxy container that deploy/ creates (sidecar template, plain sidecar, gateway, perf target): flags the
/// real parser accepts, Istio's proxy hardening, readiness, Prometheus, drain timing, and a bootstrap that passes
/// <c>sharpproxy --mode validate</c>.
/// </summary>
public sealed class ProxyContainerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ValidateTimeout = TimeSpan.FromSeconds(60);

    public static TheoryData<string, string> Containers => PodChecks.ProxyContainers();

    [Fact]
    public void EveryFolder_HasAProxyContainer()
    {
        var folders = DeployTree.Pods.Where(p => p.ProxyContainers.Any()).Select(p => p.Folder).ToHashSet();

        Assert.Equal(["gateway", "istio", "perf", "plain"], folders.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void Args_AreAcceptedBySharpProxysOwnParser(string podId, string containerName)
    {
        var container = DeployTree.Pod(podId).Container(containerName);
        Assert.Null(container.Find("command")); // the image's entrypoint is sharpproxy: only args are given

        var commandLine = ProxyCommandLine.Parse(container.Strings("args"));

        ReportTolerated(commandLine);
        Assert.Equal(Cli.RunMode.Serve, commandLine.Options.Mode);
        Assert.StartsWith("/etc/sharpproxy/", commandLine.ConfigPath, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void SecurityContext_IsIstiosProxyHardening(string podId, string containerName)
    {
        var pod = DeployTree.Pod(podId);
        var container = pod.Container(containerName);
        var security = container.SecurityContext() ?? throw new InvalidOperationException($"{podId}/{containerName}: no securityContext");
        var podSecurity = pod.Spec.Find("securityContext");

        string? Effective(string key) => security.StrOrNull(key) ?? podSecurity?.StrOrNull(key);

        Assert.Equal(PodChecks.ProxyUid, Effective("runAsUser"));
        Assert.Equal(PodChecks.ProxyUid, Effective("runAsGroup"));
        Assert.Equal("true", Effective("runAsNonRoot"));
        Assert.Equal("true", security.Str("readOnlyRootFilesystem"));
        Assert.Equal("false", security.Str("allowPrivilegeEscalation"));
        Assert.NotEqual("true", security.StrOrNull("privileged"));
        var capabilities = security.Map("capabilities");
        Assert.Equal(["ALL"], capabilities.Strings("drop"));
        Assert.Empty(capabilities.Strings("add"));
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void TmpIsAWritableEmptyDir_TheOnlyWritablePath(string podId, string containerName)
    {
        var pod = DeployTree.Pod(podId);
        var container = pod.Container(containerName);

        foreach (var mount in container.Maps("volumeMounts"))
        {
            var volume = pod.Spec.Maps("volumes").Single(v => v.Str("name") == mount.Str("name"));
            if (mount.Str("mountPath") == "/tmp")
            {
                Assert.NotNull(volume.Find("emptyDir"));
            }
            else
            {
                Assert.Equal("true", mount.StrOrNull("readOnly"));
            }
        }

        Assert.Contains(container.Maps("volumeMounts"), m => m.Str("mountPath") == "/tmp");
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void ReadinessProbe_IsHealthzReadyOnTheReadinessPort(string podId, string containerName)
    {
        var container = DeployTree.Pod(podId).Container(containerName);
        var commandLine = ProxyCommandLine.Parse(container.Strings("args"));

        var httpGet = container.Map("readinessProbe").Map("httpGet");

        Assert.Equal("/healthz/ready", httpGet.Str("path"));
        Assert.Equal(PodChecks.ReadinessPort, httpGet.Int("port"));
        Assert.Equal(PodChecks.ReadinessPort.ToString(CultureInfo.InvariantCulture), commandLine.ValueOf("--readiness-port"));
        if (container.Find("startupProbe") is { } startup)
        {
            Assert.Equal("/healthz/ready", startup.Map("httpGet").Str("path"));
            Assert.Equal(PodChecks.ReadinessPort, startup.Map("httpGet").Int("port"));
        }
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void PrometheusAnnotations_PointAtThePrometheusPort(string podId, string containerName)
    {
        var pod = DeployTree.Pod(podId);
        var container = pod.Container(containerName);
        var commandLine = ProxyCommandLine.Parse(container.Strings("args"));
        var annotations = pod.Metadata.Map("annotations");

        Assert.Equal("true", annotations.Str("prometheus.io/scrape"));
        Assert.Equal(PodChecks.PrometheusPort.ToString(CultureInfo.InvariantCulture), annotations.Str("prometheus.io/port"));
        Assert.Equal("/stats/prometheus", annotations.Str("prometheus.io/path"));
        Assert.Equal(annotations.Str("prometheus.io/port"), commandLine.ValueOf("--prometheus-port"));
        Assert.Contains(container.Maps("ports"), p => p.Int("containerPort") == PodChecks.PrometheusPort);
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void Drain_FitsInsideTheGracePeriod(string podId, string containerName)
    {
        var pod = DeployTree.Pod(podId);
        var container = pod.Container(containerName);
        var drainSeconds = (int)ProxyCommandLine.Parse(container.Strings("args")).Options.DrainTime.TotalSeconds;
        var preStopSeconds = PodChecks.PreStopSleepSeconds(container);

        output.WriteLine($"{podId}/{containerName}: preStop {preStopSeconds} s + drain {drainSeconds} s, grace period {pod.TerminationGracePeriodSeconds} s");
        Assert.NotNull(container.Strings("args").FirstOrDefault(a => a == "--drain-time-s")); // the 600 s default would outlive any grace period
        Assert.InRange(preStopSeconds, 1, 15);
        Assert.True(preStopSeconds + drainSeconds < pod.TerminationGracePeriodSeconds,
            $"preStop {preStopSeconds} s + --drain-time-s {drainSeconds} s must end before SIGKILL at {pod.TerminationGracePeriodSeconds} s");
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public async Task Bootstrap_PassesSharpProxyValidate_WithTheContainersArgs(string podId, string containerName)
    {
        var pod = DeployTree.Pod(podId);
        var container = pod.Container(containerName);
        var expanded = PodChecks.ExpandedArgs(container);
        Assert.DoesNotContain(expanded, a => a.Contains("$(", StringComparison.Ordinal)); // every $(VAR) is defined in env
        var commandLine = ProxyCommandLine.Parse(expanded);
        ReportTolerated(commandLine);
        var (configMap, key, text) = pod.MountedConfigMapFile(container, commandLine.ConfigPath);
        using var file = ConfigWriter.WriteText(text);
        var args = commandLine.AcceptedArgs.ToList();
        args[args.IndexOf(commandLine.ConfigPath)] = file.Path;

        var result = await ProxyProcess.RunToCompletionAsync(["--mode", "validate", .. args], ValidateTimeout);

        output.WriteLine($"{configMap} key {key}: {result}");
        if (result.ExitCode == 0)
        {
            Assert.Contains("OK", result.StandardOutput, StringComparison.Ordinal);
            return;
        }

        var errors = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => line.StartsWith("error:", StringComparison.Ordinal))
            .ToList();
        Assert.True(result.ExitCode == 1 && errors.Count > 0, $"{configMap} key {key} was rejected: {result}");
        var unexpected = errors.Where(e => !PendingSupport.IsPendingBootstrapError(e)).ToList();
        Assert.True(unexpected.Count == 0, $"{configMap} key {key}: errors not listed in PendingSupport.BootstrapErrors:\n{string.Join('\n', unexpected)}");
        output.WriteLine($"TOLERATED (PendingSupport.BootstrapErrors): {errors.Count} error(s) for features not on this branch yet");
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void Bootstrap_AdminStaysOnLoopback(string podId, string containerName)
    {
        var pod = DeployTree.Pod(podId);
        var container = pod.Container(containerName);
        var (_, _, text) = pod.MountedConfigMapFile(container, ProxyCommandLine.Parse(container.Strings("args")).ConfigPath);
        var bootstrap = Yaml.LoadDocuments(text, "bootstrap").Single();

        Assert.Equal("127.0.0.1", bootstrap.Map("admin").Map("address").Map("socket_address").Str("address"));
    }

    [Fact]
    public void Sidecars_HoldTheAppUntilReady_WithSharpProxyWait()
    {
        var entrypoint = DockerfileTests.Entrypoint();
        foreach (var pod in DeployTree.Pods.Where(p => p.CaptureInitContainers.Any()))
        {
            var proxy = pod.ProxyContainers.Single();
            var commandLine = ProxyCommandLine.Parse(proxy.Strings("args"));

            var hook = proxy.Map("lifecycle").Map("postStart").Map("exec").Strings("command");

            // The image's own entrypoint with `wait`, whose default URL is the readiness port the proxy serves.
            Assert.Equal([.. entrypoint, "wait"], hook);
            Assert.Equal(new Uri(Cli.WaitCommand.DefaultUrl).Port.ToString(CultureInfo.InvariantCulture), commandLine.ValueOf("--readiness-port"));
            Assert.Equal("/healthz/ready", new Uri(Cli.WaitCommand.DefaultUrl).AbsolutePath);
        }

        // Without the injector (deploy/plain) the order is the manifest's: the sidecar must come first.
        var plain = DeployTree.Pods.Single(p => p.Folder == "plain");
        Assert.Equal(plain.ProxyContainers.Single().Str("name"), plain.Containers.First().Str("name"));
    }

    [Theory]
    [MemberData(nameof(Containers))]
    public void NodeIdentity_IsIstiosShape_FromTheDownwardApi(string podId, string containerName)
    {
        var pod = DeployTree.Pod(podId);
        var container = pod.Container(containerName);
        var configYaml = ProxyCommandLine.Parse(PodChecks.ExpandedArgs(container)).Options.ConfigYaml;
        if (pod.Folder == "perf")
        {
            Assert.Null(configYaml); // the perf target is no mesh workload
            return;
        }

        var node = Yaml.LoadDocuments(configYaml!, "--config-yaml").Single().Map("node");
        var metadata = node.Map("metadata");
        var values = PodChecks.SampleFieldValues;

        var id = node.Str("id").Split('~');
        Assert.Equal(4, id.Length);
        Assert.Equal(pod.Folder == "gateway" ? "router" : "sidecar", id[0]);
        Assert.Equal(values["status.podIP"], id[1]);
        Assert.Equal($"{values["metadata.name"]}.{values["metadata.namespace"]}", id[2]);
        Assert.Equal($"{values["metadata.namespace"]}.svc.cluster.local", id[3]);
        Assert.Equal(values["metadata.name"], metadata.Str("NAME"));
        Assert.Equal(values["metadata.namespace"], metadata.Str("NAMESPACE"));
        Assert.Equal(values["spec.serviceAccountName"], metadata.Str("SERVICE_ACCOUNT"));
        Assert.Equal("Kubernetes", metadata.Str("CLUSTER_ID"));
        var labels = metadata.Map("LABELS");
        var podLabels = pod.Id == DeployTree.IstioTemplatePodId ? IstioTemplate.SampleLabels : pod.Metadata.Map("labels").Children.ToDictionary(c => c.Key.ToString(), c => c.Value.ToString());
        Assert.Equal(podLabels["app"], labels.Str("app"));
        var workload = pod.Id == DeployTree.IstioTemplatePodId ? IstioTemplate.SampleDeploymentName : pod.Id[(pod.Id.LastIndexOf('/') + 1)..];
        Assert.Equal(workload, metadata.Str("WORKLOAD_NAME"));
        Assert.Equal($"{workload}.{values["metadata.namespace"]}", node.Str("cluster"));
    }

    private void ReportTolerated(ProxyCommandLine commandLine)
    {
        foreach (var flag in commandLine.ToleratedFlags)
        {
            output.WriteLine($"TOLERATED (PendingSupport.ProxyFlags): {flag} {commandLine.ValueOf(flag)} is not accepted by this branch's ProxyOptionsParser yet");
        }
    }
}
