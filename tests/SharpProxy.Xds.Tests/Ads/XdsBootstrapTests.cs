using Google.Protobuf;
using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Ads;
using SharpProxy.Xds.Api.Config.Route.V3;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Ads;

public sealed class XdsBootstrapTests
{
    private const string Valid = """
        node: { id: "sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local", cluster: c }
        dynamic_resources:
          ads_config:
            api_type: DELTA_GRPC
            transport_api_version: V3
            grpc_services: [ { envoy_grpc: { cluster_name: xds-grpc } } ]
          cds_config: { ads: {}, initial_fetch_timeout: 2s, resource_api_version: V3 }
          lds_config: { ads: {}, resource_api_version: V3 }
        static_resources:
          clusters:
          - name: xds-grpc
            type: STATIC
            load_assignment:
              cluster_name: xds-grpc
              endpoints: [ { lb_endpoints: [ { endpoint: { address: { pipe: { path: ./etc/istio/proxy/XDS } } } } ] } ]
        """;

    [Fact]
    public void IstioShapedBootstrap_UnixSocketAndDelta()
    {
        var xds = Load(Valid).Xds!;

        Assert.True(xds.Delta);
        Assert.Equal("./etc/istio/proxy/XDS", xds.UnixSocketPath);
        Assert.Null(xds.EndPoint);
        Assert.Equal("xds-grpc", xds.Authority);
        Assert.Equal(TimeSpan.FromSeconds(2), xds.InitialFetchTimeout);
        Assert.Equal("sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local", xds.Node.Id);
    }

    [Fact]
    public void StaticBootstrap_HasNoXdsSource() =>
        Assert.Null(Load("static_resources: { clusters: [] }").Xds);

    [Theory]
    [InlineData("api_type: DELTA_GRPC", "api_type: REST", "dynamic_resources.ads_config.api_type")]
    [InlineData("transport_api_version: V3", "transport_api_version: V2", "dynamic_resources.ads_config.transport_api_version")]
    [InlineData("cluster_name: xds-grpc } }", "cluster_name: elsewhere } }", "envoy_grpc.cluster_name: 'elsewhere' is not a static cluster")]
    [InlineData("lds_config: { ads: {}, resource_api_version: V3 }", "", "dynamic_resources.lds_config: required")]
    [InlineData("id: \"sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local\", ", "", "node.id")]
    public void InvalidDynamicResources_ErrorNamesThePath(string find, string replace, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => Load(Valid.Replace(find, replace, StringComparison.Ordinal)));
        Assert.Contains(ex.Errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void UnknownFields_FoundWithTheirPath_HarmlessOnesOnlyCounted()
    {
        var route = new RouteConfiguration { Name = "r" };
        var vhost = new VirtualHost { Name = "v" };
        vhost.Domains.Add("*");
        vhost.Routes.Add(new Route { Match = new RouteMatch { Prefix = "/" }, Route_ = new RouteAction { Cluster = "c" } });
        route.VirtualHosts.Add(vhost);
        var bytes = route.ToByteArray();

        // Re-encode with an unknown field 999 inside the RouteAction and Envoy's decorator (field 5) on the Route.
        var action = new RouteAction { Cluster = "c" }.ToByteArray().Concat(new byte[] { 0xb8, 0x3e, 0x01 }).ToArray();
        var routeEntry = new Route { Match = new RouteMatch { Prefix = "/" } }.ToByteArray()
            .Concat(new byte[] { 0x12, (byte)action.Length }).Concat(action)
            .Concat(new byte[] { 0x2a, 0x00 }).ToArray();
        var vhostBytes = new VirtualHost { Name = "v" }.ToByteArray().Concat(new byte[] { 0x12, 0x01, (byte)'*' })
            .Concat(new byte[] { 0x1a, (byte)routeEntry.Length }).Concat(routeEntry).ToArray();
        var routeBytes = new RouteConfiguration { Name = "r" }.ToByteArray().Concat(new byte[] { 0x12, (byte)vhostBytes.Length }).Concat(vhostBytes).ToArray();
        var parsed = RouteConfiguration.Parser.ParseFrom(routeBytes);
        Assert.NotEqual(bytes.Length, routeBytes.Length);

        var ignored = new List<string>();
        var found = UnknownFields.Find(parsed, "route_configuration 'r'", ignored);

        Assert.Equal(["route_configuration 'r'.virtual_hosts[0].routes[0].route.#999"], found);
        Assert.Equal(["route_configuration 'r'.virtual_hosts[0].routes[0].#5"], ignored);
    }

    [Fact]
    public void UnknownFields_IstioHcmTracingExtras_IgnoredButNotTheRest()
    {
        // istiod's HCM tracing: sampling (honoured) plus verbose (6) and spawn_upstream_span (10), which only describe spans.
        var tracing = new Api.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager.Types.Tracing
        {
            RandomSampling = new Api.Type.V3.Percent { Value = 1 },
        }.ToByteArray().Concat(new byte[] { 0x52, 0x00, 0x30, 0x01, 0x68, 0x01 }).ToArray();
        var hcmBytes = new Api.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager { StatPrefix = "s" }.ToByteArray()
            .Concat(new byte[] { 0x3a, (byte)tracing.Length }).Concat(tracing).ToArray();
        var hcm = Api.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager.Parser.ParseFrom(hcmBytes);

        var ignored = new List<string>();
        var found = UnknownFields.Find(hcm, "hcm", ignored);

        Assert.Equal(1, hcm.Tracing.RandomSampling.Value);
        Assert.Equal(["hcm.tracing.#13"], found);
        Assert.Equal(["hcm.tracing.#10", "hcm.tracing.#6"], ignored);
    }

    private static LoadedBootstrap Load(string yaml) =>
        BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: false);
}
