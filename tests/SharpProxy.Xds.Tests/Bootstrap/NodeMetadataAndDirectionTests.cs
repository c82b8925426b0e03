using System.Text.Json;
using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Bootstrap;

/// <summary>node.metadata and listener traffic_direction, which Istio's metrics labels come from.</summary>
public sealed class NodeMetadataAndDirectionTests
{
    private const string Yaml = """
        node:
          id: sidecar~10.0.0.1~reviews-v1.default~default.svc.cluster.local
          metadata:
            WORKLOAD_NAME: reviews-v1
            NAMESPACE: default
            PROXY_CONFIG_CONCURRENCY: 2
            INTERCEPTION_NONE: false
            LABELS: { app: reviews, version: v1, service.istio.io/canonical-name: reviews }
        static_resources:
          listeners:
          - name: inbound
            traffic_direction: INBOUND
            address: { socket_address: { address: 0.0.0.0, port_value: 15006 } }
            filter_chains: [ { filters: [ { name: envoy.filters.network.http_connection_manager, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, stat_prefix: in, route_config: { name: r }, http_filters: [ { name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } } ] } } ] } ]
          - name: outbound
            traffic_direction: OUTBOUND
            address: { socket_address: { address: 0.0.0.0, port_value: 15001 } }
            filter_chains: [ { filters: [ { name: envoy.filters.network.http_connection_manager, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, stat_prefix: out, route_config: { name: r }, http_filters: [ { name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } } ] } } ] } ]
          - name: gateway
            address: { socket_address: { address: 0.0.0.0, port_value: 8080 } }
            filter_chains: [ { filters: [ { name: envoy.filters.network.http_connection_manager, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, stat_prefix: gw, route_config: { name: r }, http_filters: [ { name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } } ] } } ] } ]
        """;

    [Fact]
    public void Load_NodeMetadata_KeptAsTextWithStructsAsJson()
    {
        var node = Load().Node;

        Assert.Equal("reviews-v1", node.Metadata["WORKLOAD_NAME"]);
        Assert.Equal("default", node.Metadata["NAMESPACE"]);
        Assert.Equal("2", node.Metadata["PROXY_CONFIG_CONCURRENCY"]);
        Assert.Equal("false", node.Metadata["INTERCEPTION_NONE"]);
        using var labels = JsonDocument.Parse(node.Metadata["LABELS"]);
        Assert.Equal("reviews", labels.RootElement.GetProperty("service.istio.io/canonical-name").GetString());
        Assert.Equal("v1", labels.RootElement.GetProperty("version").GetString());
    }

    [Fact]
    public void Load_TrafficDirection_PerListener()
    {
        var listeners = Load().Listeners;

        Assert.Equal(
            [TrafficDirection.Inbound, TrafficDirection.Outbound, TrafficDirection.Unspecified],
            listeners.Select(l => l.Direction).ToArray());
    }

    private static ProxyConfig Load() =>
        BootstrapLoader.LoadFromJson(YamlJson.Parse(Yaml)!, "test.yaml", allowUnknownFields: false).Config;
}
