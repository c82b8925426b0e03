using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;
using SharpProxy.Core.Configuration;
using SharpProxy.Testing;
using SharpProxy.Xds.Ads;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Ads;

/// <summary>
/// The hand-written istiod output for bookinfo's productpage sidecar (<see cref="IstioBookinfo"/>), applied the way an
/// ADS response is: every type must be accepted (no NACK), the observe-only extras counted as ignored, and the
/// translated config must say what Istio meant.
/// </summary>
public sealed class IstioBookinfoFixtureTests
{
    private const string Bootstrap = """
        node: { id: "sidecar~10.244.1.15~productpage-v1-6b746f74dc-9rlmh.default~default.svc.cluster.local", cluster: productpage.default }
        dynamic_resources:
          ads_config:
            api_type: DELTA_GRPC
            transport_api_version: V3
            grpc_services: [ { envoy_grpc: { cluster_name: xds-grpc } } ]
          cds_config: { ads: {}, initial_fetch_timeout: 0s, resource_api_version: V3 }
          lds_config: { ads: {}, initial_fetch_timeout: 0s, resource_api_version: V3 }
        static_resources:
          clusters:
          - name: xds-grpc
            type: STATIC
            load_assignment:
              cluster_name: xds-grpc
              endpoints: [ { lb_endpoints: [ { endpoint: { address: { pipe: { path: ./etc/istio/proxy/XDS } } } } ] } ]
        """;

    [Fact]
    public void IstiodShapes_EveryTypeAccepted_ObserveOnlyFieldsCounted()
    {
        var (client, target) = Apply(IstioBookinfo.Listeners());

        Assert.NotNull(target.Last);
        Assert.True(client.Stats.IgnoredUnknownFields > 0);
        foreach (var type in new[] { "cds", "eds", "lds", "rds" })
        {
            Assert.Equal(0, client.Stats.For(type).Rejected);
        }
    }

    [Fact]
    public void IstiodShapes_TranslatedAsIstioMeantThem()
    {
        var (_, target) = Apply(IstioBookinfo.Listeners());
        var config = target.Last!;

        var outbound = config.Listeners.Single(l => l.Name == IstioBookinfo.OutboundListenerName);
        Assert.False(outbound.BindToPort);
        Assert.True(outbound.HttpInspector);
        Assert.True(outbound.ContinueOnListenerFiltersTimeout);
        Assert.Null(outbound.ListenerFiltersTimeout);
        Assert.Equal(2, outbound.FilterChains.Length);
        Assert.True(outbound.FilterChains[1].IsDefault);
        Assert.Equal("PassthroughCluster", outbound.FilterChains[1].TcpProxy!.Cluster);
        var http = outbound.FilterChains[0].Http!;
        Assert.True(http.CorsFilter);
        Assert.NotNull(http.FaultFilter);
        Assert.True(http.NormalizePath);
        Assert.True(http.RouteConfig!.IgnorePortInHostMatching);

        var reviews = http.RouteConfig.VirtualHosts.Single(v => v.Name == IstioBookinfo.ReviewsHost + ":9080");
        var route = reviews.Routes.Single();
        Assert.Equal([50u, 30u, 20u], route.Forward!.WeightedClusters!.Clusters.Select(c => c.Weight));
        Assert.Equal(3, route.Forward.HashPolicies.Length);
        Assert.Equal(IstioBookinfo.AllowedOrigin, route.Cors!.AllowOrigins.Single().Value);
        Assert.True(route.Cors.AllowCredentials);

        var virtualOutbound = config.Listeners.Single(l => l.Name == "virtualOutbound");
        Assert.True(virtualOutbound.HandOffToOriginalDestination);
        var virtualInbound = config.Listeners.Single(l => l.Name == "virtualInbound");
        Assert.True(virtualInbound.RestoreOriginalDestination);
        Assert.True(virtualInbound.TlsInspector);
        Assert.True(virtualInbound.HttpInspector);
        var inboundHttp = virtualInbound.FilterChains.Single(c => c.Name == "0.0.0.0_9080").Http!;
        Assert.True(inboundHttp.SanitizeForwardedClientCert);
        Assert.Equal("istio-envoy", inboundHttp.ServerName);

        var subset = config.Clusters.Single(c => c.Name == IstioBookinfo.ClusterName("reviews", "v2"));
        Assert.Equal(LbPolicyKind.RingHash, subset.LbPolicy);
        Assert.Single(subset.Endpoints);
        Assert.Empty(config.Clusters.Single(c => c.Name == "BlackHoleCluster").Endpoints);
        Assert.Equal(ClusterDiscoveryType.OriginalDst, config.Clusters.Single(c => c.Name == "InboundPassthroughCluster").Type);
    }

    [Fact]
    public void UnknownUpstreamFilter_Nacked_NamingIt()
    {
        var clusters = IstioBookinfo.Clusters();
        var changed = (SharpProxy.Xds.Api.Config.Cluster.V3.Cluster)clusters.Single(c => ((SharpProxy.Xds.Api.Config.Cluster.V3.Cluster)c).Name == "BlackHoleCluster");
        changed.Filters.Add(new SharpProxy.Xds.Api.Config.Cluster.V3.Filter { Name = "envoy.filters.upstream_network.compressor" });
        var client = NewClient(out _);

        var error = client.Update(XdsTestServer.ClusterType, Resources(clusters), [], replaceAll: true, "1");

        Assert.NotNull(error);
        Assert.Contains("envoy.filters.upstream_network.compressor", error, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownListenerFilter_Nacked_NamingIt()
    {
        var listeners = IstioBookinfo.Listeners();
        var inbound = (SharpProxy.Xds.Api.Config.Listener.V3.Listener)listeners[2];
        inbound.ListenerFilters.Add(new SharpProxy.Xds.Api.Config.Listener.V3.ListenerFilter
        {
            Name = "envoy.filters.listener.proxy_protocol",
            TypedConfig = new Any { TypeUrl = "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol" },
        });

        var (client, _) = Apply(listeners, expectAccepted: false);

        Assert.Contains("envoy.filters.listener.proxy_protocol", client.Stats.For("lds").LastError, StringComparison.Ordinal);
    }

    private static (AdsClient Client, RecordingTarget Target) Apply(IMessage[] listeners, bool expectAccepted = true)
    {
        var client = NewClient(out var target);
        var steps = new (string Type, IMessage[] Resources)[]
        {
            (XdsTestServer.ClusterType, IstioBookinfo.Clusters()),
            (XdsTestServer.EndpointType, IstioBookinfo.Endpoints(9081, 9082, 9083, 9084)),
            (XdsTestServer.ListenerType, listeners),
            (XdsTestServer.RouteType, [IstioBookinfo.Routes()]),
        };
        foreach (var (type, resources) in steps)
        {
            var error = client.Update(type, Resources(resources), [], replaceAll: true, "1");
            if (expectAccepted)
            {
                Assert.True(error is null, type + " NACKed: " + error);
            }
        }

        return (client, target);
    }

    private static AdsClient NewClient(out RecordingTarget target)
    {
        var bootstrap = BootstrapLoader.LoadFromJson(YamlJson.Parse(Bootstrap)!, "test.yaml", allowUnknownFields: false);
        target = new RecordingTarget();
        return new AdsClient(bootstrap, target, NullLogger.Instance);
    }

    private static List<(string? Name, string Version, Any Resource)> Resources(IMessage[] messages) =>
        [.. messages.Select(m => ((string?)null, "1", Any.Pack(m)))];

    private sealed class RecordingTarget : IXdsConfigTarget
    {
        public ProxyConfig? Last { get; private set; }

        public string? Apply(ProxyConfig config)
        {
            Last = config;
            return null;
        }
    }
}
