using YamlDotNet.RepresentationModel;

namespace SharpProxy.Deploy.Tests;

/// <summary>The <c>sharpproxy</c> custom injection template for istiod, and the sample workload that asks for it.</summary>
public sealed class IstioTemplateTests
{
    private static PodUnderTest Injected => DeployTree.Pod(DeployTree.IstioTemplatePodId);

    [Fact]
    public void HelmValuesAndIstioOperator_CarryTheSameTemplate()
    {
        Assert.Equal(DeployTree.IstioTemplateText, DeployTree.IstioOperatorTemplateText);
        Assert.Equal("install.istio.io/v1alpha1", DeployTree.All.Single(m => m.File == DeployTree.IstioOperatorFile).ApiVersion);
    }

    [Fact]
    public void EveryAnnotationTheTemplateReads_IsDocumentedWithItsDefault()
    {
        var header = File.ReadAllText(Path.Combine(Repository.DeployDirectory, DeployTree.IstioTemplateFile));
        header = header[..header.IndexOf("sidecarInjectorWebhook:", StringComparison.Ordinal)];

        var lines = header.Split('\n');

        var defaults = IstioTemplate.AnnotationDefaults(DeployTree.IstioTemplateText);

        Assert.NotEmpty(defaults);
        foreach (var (key, value) in defaults)
        {
            var line = lines.FirstOrDefault(l => l.StartsWith("#   " + key + " ", StringComparison.Ordinal));
            Assert.True(line is not null, $"annotation {key} is not listed in the header of {DeployTree.IstioTemplateFile}");
            var documented = line["#   ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            Assert.Equal(value.Length == 0 ? "(empty)" : value, documented);
        }
    }

    [Fact]
    public void Containers_HaveIstiosNames_SoTheInjectorOrdersAndFindsThem()
    {
        Assert.Equal(["istio-init"], Injected.InitContainers.Select(c => c.Str("name")));
        Assert.Equal(["istio-proxy"], Injected.Containers.Select(c => c.Str("name")));
    }

    [Fact]
    public void PodAnnotations_TurnOffWhatNeedsPilotAgent()
    {
        var annotations = Injected.Metadata.Map("annotations");

        // Without these, istiod would point Prometheus and the app's probes at pilot-agent's 15020, which is not there.
        Assert.Equal("false", annotations.Str("prometheus.istio.io/merge-metrics"));
        Assert.Equal("false", annotations.Str("sidecar.istio.io/rewriteAppHTTPProbers"));
    }

    [Fact]
    public void Pod_DoesNotClaimIstioMutualTls()
    {
        // Envoy clients send mTLS to endpoints labelled tlsMode=istio; SharpProxy does not terminate it yet.
        var labels = Injected.Metadata.Find("labels");

        Assert.NotEqual("istio", labels?.StrOrNull("security.istio.io/tlsMode"));
    }

    [Fact]
    public void ProxyEnvironment_ComesFromTheDownwardApi()
    {
        var env = Injected.Container("istio-proxy").Maps("env").ToDictionary(e => e.Str("name"));

        Assert.Equal("metadata.name", FieldPath(env["POD_NAME"]));
        Assert.Equal("metadata.namespace", FieldPath(env["POD_NAMESPACE"]));
        Assert.Equal("status.podIP", FieldPath(env["INSTANCE_IP"]));
        Assert.Equal("spec.serviceAccountName", FieldPath(env["SERVICE_ACCOUNT"]));
    }

    [Fact]
    public void SampleApp_AsksForTheTemplate_AndItsBootstrapExists()
    {
        var sample = DeployTree.Pods.Single(p => p.Folder == "istio" && p.Id != DeployTree.IstioTemplatePodId);
        var annotations = sample.Metadata.Map("annotations");
        var bootstrapName = annotations.StrOrNull("sidecar.sharpproxy.io/bootstrap")
            ?? IstioTemplate.AnnotationDefaults(DeployTree.IstioTemplateText)["sidecar.sharpproxy.io/bootstrap"];

        Assert.Equal("sharpproxy", annotations.Str("inject.istio.io/templates"));
        Assert.Contains("bootstrap.yaml", DeployTree.Object("istio", "ConfigMap", bootstrapName).Node.Map("data").Children.Keys.Select(k => ((YamlScalarNode)k).Value));
        Assert.True(sample.TerminationGracePeriodSeconds >= Injected.TerminationGracePeriodSeconds);
        Assert.Empty(sample.InitContainers);
        Assert.DoesNotContain(sample.Containers, c => c.Str("name") is "istio-proxy" or "istio-init");
    }

    [Fact]
    public void PodAnnotations_ReachTheRenderedPod_AndTheArgsStillParse()
    {
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["sidecar.sharpproxy.io/image"] = "registry.example/mesh/sharpproxy:1.2.3",
            ["sidecar.sharpproxy.io/bootstrap"] = "orders-sharpproxy",
            ["sidecar.sharpproxy.io/concurrency"] = "4",
            ["sidecar.istio.io/logLevel"] = "debug",
            ["sidecar.istio.io/proxyCPU"] = "250m",
            ["sidecar.istio.io/proxyMemoryLimit"] = "1Gi",
            ["traffic.sidecar.istio.io/includeOutboundIPRanges"] = "10.96.0.0/12,10.244.0.0/16",
            ["traffic.sidecar.istio.io/excludeOutboundIPRanges"] = "169.254.169.254/32",
            ["traffic.sidecar.istio.io/includeInboundPorts"] = "8080,9090",
        };

        var pod = Yaml.LoadDocuments(IstioTemplate.Render(DeployTree.IstioTemplateText, annotations), "rendered").Single();

        var spec = pod.Map("spec");
        var init = spec.Maps("initContainers").Single();
        var proxy = spec.Maps("containers").Single();
        Assert.Equal("registry.example/mesh/sharpproxy:1.2.3", init.Str("image"));
        Assert.Equal("registry.example/mesh/sharpproxy:1.2.3", proxy.Str("image"));
        Assert.Equal("orders-sharpproxy", spec.Maps("volumes").Single(v => v.Find("configMap") is not null).Map("configMap").Str("name"));
        Assert.Equal("250m", proxy.Map("resources").Map("requests").Str("cpu"));
        Assert.Equal("1Gi", proxy.Map("resources").Map("limits").Str("memory"));
        var capture = Interception.Options.IptablesOptionsParser.Parse(init.Strings("args")[1..], new Dictionary<string, string>(StringComparer.Ordinal))!;
        Assert.Equal("10.96.0.0/12,10.244.0.0/16", capture.OutboundIPRangesInclude);
        Assert.Equal("169.254.169.254/32", capture.OutboundIPRangesExclude);
        Assert.Equal("8080,9090", capture.InboundPortsInclude);
        var options = ProxyCommandLine.Parse(proxy.Strings("args")).Options;
        Assert.Equal(4, options.Concurrency);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, options.LogLevel);
    }

    private static string FieldPath(YamlMappingNode env) => env.Map("valueFrom").Map("fieldRef").Str("fieldPath");
}
