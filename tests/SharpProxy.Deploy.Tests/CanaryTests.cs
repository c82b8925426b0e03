using YamlDotNet.RepresentationModel;

namespace SharpProxy.Deploy.Tests;

/// <summary>
/// deploy/istio/canary: the seeds' canary as Istio resources, checked against config/canary-demo.yaml (the bootstrap
/// istiod would compile from them): same header route, same weights, subsets that select the two Deployments.
/// </summary>
public sealed class CanaryTests
{
    private const string Folder = "istio/canary";

    private static YamlMappingNode VirtualServiceSpec => DeployTree.Object(Folder, "VirtualService", "demo").Node.Map("spec");

    private static YamlMappingNode DestinationRuleSpec => DeployTree.Object(Folder, "DestinationRule", "demo").Node.Map("spec");

    [Fact]
    public void HeaderRoute_SendsCanaryTestersToV2_AsTheDemoBootstrapDoes()
    {
        var demoRoutes = DemoBootstrapRoutes();
        var demoHeader = demoRoutes[0].Map("match").Maps("headers").Single();
        var http = VirtualServiceSpec.Maps("http").ToList();

        var headers = http[0].Maps("match").Single().Map("headers");
        var (name, match) = headers.Children.Single();

        Assert.Equal(demoHeader.Str("name"), ((YamlScalarNode)name).Value);
        Assert.Equal(demoHeader.Map("string_match").Str("exact"), match.Str("exact"));
        Assert.Equal("v2", http[0].Maps("route").Single().Map("destination").Str("subset"));
        Assert.EndsWith("|v2|demo.default.svc.cluster.local", demoRoutes[0].Map("route").Str("cluster"), StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultRoute_HasTheDemoBootstrapsWeights()
    {
        var demoWeights = DemoBootstrapRoutes()[1].Map("route").Map("weighted_clusters").Maps("clusters")
            .ToDictionary(c => c.Str("name").Split('|')[2], c => c.Str("weight"));
        var http = VirtualServiceSpec.Maps("http").ToList();

        Assert.Null(http[1].Find("match"));
        var weights = http[1].Maps("route").ToDictionary(r => r.Map("destination").Str("subset"), r => r.Str("weight"));

        Assert.Equal(demoWeights.OrderBy(w => w.Key, StringComparer.Ordinal), weights.OrderBy(w => w.Key, StringComparer.Ordinal));
        Assert.Equal(100, weights.Values.Sum(int.Parse));
    }

    [Fact]
    public void Subsets_SelectTheTwoDeployments_WithConsistentHashing()
    {
        var consistentHash = DestinationRuleSpec.Map("trafficPolicy").Map("loadBalancer").Map("consistentHash");
        Assert.NotNull(consistentHash.Find("httpCookie") ?? consistentHash.Find("httpHeaderName") ?? consistentHash.Find("useSourceIp"));
        Assert.Equal(VirtualServiceSpec.Strings("hosts").Single(), DestinationRuleSpec.Str("host"));
        var service = DeployTree.Object(Folder, "Service", DestinationRuleSpec.Str("host"));

        foreach (var subset in DestinationRuleSpec.Maps("subsets"))
        {
            var version = subset.Map("labels").Str("version");
            var deployment = DeployTree.Object(Folder, "Deployment", "demo-" + version);
            var podLabels = deployment.Node.Map("spec").Map("template").Map("metadata").Map("labels");

            Assert.Equal(subset.Str("name"), version);
            Assert.Equal(version, podLabels.Str("version"));
            Assert.Equal(service.Node.Map("spec").Map("selector").Str("app"), podLabels.Str("app"));
        }
    }

    private static List<YamlMappingNode> DemoBootstrapRoutes()
    {
        var demo = Yaml.LoadDocuments(File.ReadAllText(Repository.PathOf("config/canary-demo.yaml")), "config/canary-demo.yaml").Single();
        var hcm = demo.Map("static_resources").Maps("listeners").Single().Maps("filter_chains").Single().Maps("filters").Single().Map("typed_config");
        return hcm.Map("route_config").Maps("virtual_hosts").Single().Maps("routes").ToList();
    }
}
