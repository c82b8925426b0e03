using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Translation;

/// <summary>
/// Translation of the fields a transparent sidecar needs (Istio's virtualOutbound / virtualInbound / per-port listeners,
/// PassthroughCluster, BlackHoleCluster, inbound clusters bound to 127.0.0.6, tcp_proxy).
/// </summary>
public sealed class InterceptionTranslationTests
{
    private const string TcpProxy = "'@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
    private const string OriginalDst = "'@type': type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst";

    [Fact]
    public void Listener_UseOriginalDst_RestoresAndHandsOff()
    {
        var listener = LoadListener("use_original_dst: true", TcpProxyFilter("cluster: c"));

        Assert.True(listener.RestoreOriginalDestination);
        Assert.True(listener.HandOffToOriginalDestination);
        Assert.True(listener.BindToPort);
    }

    [Theory]
    [InlineData("listener_filters: [ { name: envoy.filters.listener.original_dst, typed_config: { " + OriginalDst + " } } ]")]
    [InlineData("listener_filters: [ { name: envoy.filters.listener.original_dst } ]")]
    public void Listener_OriginalDstFilter_RestoresWithoutHandOff(string filters)
    {
        var listener = LoadListener(filters, TcpProxyFilter("cluster: c"));

        Assert.True(listener.RestoreOriginalDestination);
        Assert.False(listener.HandOffToOriginalDestination);
    }

    [Fact]
    public void Listener_Defaults_NoRestoreBound()
    {
        var listener = LoadListener("", TcpProxyFilter("cluster: c"));

        Assert.False(listener.RestoreOriginalDestination);
        Assert.False(listener.HandOffToOriginalDestination);
        Assert.True(listener.BindToPort);
    }

    [Fact]
    public void Listener_BindToPortFalse_Translated()
    {
        Assert.False(LoadListener("bind_to_port: false", TcpProxyFilter("cluster: c")).BindToPort);
    }

    [Fact]
    public void Listener_UnknownListenerFilter_ErrorNamesPathAndFilter()
    {
        var error = LoadError(Yaml(
            "listener_filters: [ { name: envoy.filters.listener.tls_inspector, typed_config: { " + OriginalDst + " } }, { name: envoy.filters.listener.proxy_protocol } ]",
            TcpProxyFilter("cluster: c"),
            StaticCluster));

        // The typed_config decides (it is an original_dst), the bare name without one does not.
        Assert.Contains("static_resources.listeners[0].listener_filters[1]", error, StringComparison.Ordinal);
        Assert.Contains("envoy.filters.listener.proxy_protocol", error, StringComparison.Ordinal);
        Assert.Contains("not supported", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TcpProxy_Cluster_DefaultsAsEnvoy()
    {
        var tcp = LoadListener("", TcpProxyFilter("cluster: c")).FilterChains[0].TcpProxy;

        Assert.NotNull(tcp);
        Assert.Equal("tcp", tcp.StatPrefix);
        Assert.Equal("c", tcp.Cluster);
        Assert.Null(tcp.WeightedClusters);
        Assert.Equal(TimeSpan.FromHours(1), tcp.IdleTimeout);
        Assert.Equal(1, tcp.MaxConnectAttempts);
    }

    [Fact]
    public void TcpProxy_WeightedIdleAttempts_Translated()
    {
        var tcp = LoadListener("", TcpProxyFilter("weighted_clusters: { clusters: [ { name: c, weight: 3 }, { name: d, weight: 1 } ] }, idle_timeout: 0s, max_connect_attempts: 3"))
            .FilterChains[0].TcpProxy!;

        Assert.Null(tcp.Cluster);
        Assert.Equal(["c", "d"], tcp.WeightedClusters!.Clusters.Select(c => c.Name));
        Assert.Equal([3u, 1u], tcp.WeightedClusters.Clusters.Select(c => c.Weight));
        Assert.Equal(TimeSpan.Zero, tcp.IdleTimeout);
        Assert.Equal(3, tcp.MaxConnectAttempts);
    }

    [Theory]
    [InlineData("stat_prefix: tcp", "typed_config", "one of cluster, weighted_clusters is required")]
    [InlineData("stat_prefix: tcp, weighted_clusters: { clusters: [ { name: c, weight: 0 } ] }", "weighted_clusters.clusters[0].weight", "at least 1")]
    [InlineData("stat_prefix: tcp, cluster: c, max_connect_attempts: 0", "max_connect_attempts", "at least 1")]
    [InlineData("cluster: c", "stat_prefix", "required")]
    public void TcpProxy_Invalid_ErrorsWithPath(string config, string path, string message)
    {
        var error = LoadError(Yaml("", "{ name: envoy.filters.network.tcp_proxy, typed_config: { " + TcpProxy + ", " + config + " } }", StaticCluster));

        Assert.Contains("static_resources.listeners[0].filter_chains[0].filters[0]." + (path == "typed_config" ? "typed_config" : "typed_config." + path), error, StringComparison.Ordinal);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void OriginalDstCluster_ClusterProvided_Accepted()
    {
        var cluster = LoadCluster("{ name: PassthroughCluster, type: ORIGINAL_DST, lb_policy: CLUSTER_PROVIDED, connect_timeout: 1s }");

        Assert.Equal(ClusterDiscoveryType.OriginalDst, cluster.Type);
        Assert.Equal(LbPolicyKind.ClusterProvided, cluster.LbPolicy);
        Assert.Empty(cluster.Endpoints);
    }

    [Theory]
    [InlineData("{ name: x, type: ORIGINAL_DST, lb_policy: ROUND_ROBIN }", "lb_policy", "only CLUSTER_PROVIDED")]
    [InlineData("{ name: x, type: STATIC, lb_policy: CLUSTER_PROVIDED }", "lb_policy", "only valid for cluster type ORIGINAL_DST")]
    [InlineData("{ name: x, type: ORIGINAL_DST, lb_policy: CLUSTER_PROVIDED, load_assignment: { cluster_name: x, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } } ] } ] } }", "load_assignment", "no endpoints")]
    [InlineData("{ name: x, type: STATIC, upstream_bind_config: { source_address: { address: not-an-ip, port_value: 0 } } }", "upstream_bind_config.source_address.address", "not an IP address")]
    public void Cluster_InvalidInterceptionFields_ErrorsWithPath(string cluster, string path, string message)
    {
        var error = LoadError(Yaml("", TcpProxyFilter("cluster: x"), cluster));

        Assert.Contains("static_resources.clusters[0]." + path, error, StringComparison.Ordinal);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void BlackHoleCluster_StaticWithoutEndpoints_Accepted()
    {
        var cluster = LoadCluster("{ name: BlackHoleCluster, type: STATIC, connect_timeout: 10s }");

        Assert.Equal(ClusterDiscoveryType.Static, cluster.Type);
        Assert.Empty(cluster.Endpoints);
    }

    [Fact]
    public void UpstreamBindConfig_SourceAddressTranslated()
    {
        var cluster = LoadCluster("{ name: InboundPassthroughCluster, type: ORIGINAL_DST, lb_policy: CLUSTER_PROVIDED, upstream_bind_config: { source_address: { address: 127.0.0.6, port_value: 0 } } }");

        Assert.Equal("127.0.0.6", cluster.UpstreamBindAddress);
        Assert.Equal(0, cluster.UpstreamBindPort);
    }

    [Fact]
    public void OriginalDstLbConfig_NotHonoured_Refused()
    {
        var error = LoadError(Yaml("", TcpProxyFilter("cluster: x"), "{ name: x, type: ORIGINAL_DST, lb_policy: CLUSTER_PROVIDED, original_dst_lb_config: { use_http_header: true } }"));

        Assert.Contains("original_dst_lb_config", error, StringComparison.Ordinal);
    }

    private const string StaticCluster = "{ name: c, type: STATIC }";

    private static string TcpProxyFilter(string config) =>
        "{ name: envoy.filters.network.tcp_proxy, typed_config: { " + TcpProxy + ", stat_prefix: tcp, " + config + " } }";

    private static string Yaml(string listenerFields, string filter, string cluster) => $$"""
        static_resources:
          listeners:
          - name: l
            address: { socket_address: { address: 0.0.0.0, port_value: 15001 } }
            {{listenerFields}}
            filter_chains:
            - filters: [ {{filter}} ]
          clusters:
          - {{cluster}}
        """;

    private static ListenerConfig LoadListener(string listenerFields, string filter) =>
        Assert.Single(BootstrapLoader.LoadFromJson(YamlJson.Parse(Yaml(listenerFields, filter, StaticCluster))!, "test.yaml", allowUnknownFields: false).Config.Listeners);

    private static ClusterConfig LoadCluster(string cluster) =>
        Assert.Single(BootstrapLoader.LoadFromJson(YamlJson.Parse(Yaml("", TcpProxyFilter("cluster: c"), cluster))!, "test.yaml", allowUnknownFields: false).Config.Clusters);

    private static string LoadError(string yaml)
    {
        var ex = Assert.Throws<ConfigException>(() => BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: false));
        return string.Join("\n", ex.Errors);
    }
}
