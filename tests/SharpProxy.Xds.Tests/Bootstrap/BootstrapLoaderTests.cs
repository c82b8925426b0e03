using System.Text.Json.Nodes;
using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Bootstrap;

public sealed class BootstrapLoaderTests
{
    // A config in the shape Envoy's own docs and Istio's bootstrap use, restricted to the honoured subset.
    private const string RealisticEnvoyYaml = """
        node:
          id: sidecar~10.0.0.1~reviews-v1.default~default.svc.cluster.local
          cluster: reviews.default
          metadata: { ISTIO_VERSION: "1.24.0", LABELS: { app: reviews, version: v1 } }
        admin:
          address:
            socket_address: { address: 127.0.0.1, port_value: 15000 }
        static_resources:
          listeners:
          - name: listener_0
            address:
              socket_address: { address: 0.0.0.0, port_value: 10000 }
            traffic_direction: OUTBOUND
            filter_chains:
            - filter_chain_match: { destination_port: 10000, transport_protocol: raw_buffer }
              filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress_http
                  codec_type: AUTO
                  use_remote_address: true
                  upgrade_configs: [{ upgrade_type: websocket }]
                  route_config:
                    name: local_route
                    response_headers_to_add:
                    - header: { key: x-served-by, value: sharpproxy }
                      append_action: OVERWRITE_IF_EXISTS_OR_ADD
                    virtual_hosts:
                    - name: reviews
                      domains: ["reviews", "reviews:9080", "*.reviews.svc"]
                      routes:
                      - match:
                          prefix: /
                          headers: [{ name: canary, string_match: { exact: canary-tester } }]
                        route: { cluster: "outbound|9080|v2|reviews.default.svc.cluster.local", timeout: 0s }
                      - match: { safe_regex: { google_re2: {}, regex: "/api/v[0-9]+/.*" } }
                        route: { cluster: "outbound|9080|v1|reviews.default.svc.cluster.local", prefix_rewrite: /api/ }
                      - match: { prefix: / }
                        route:
                          weighted_clusters:
                            clusters:
                            - { name: "outbound|9080|v1|reviews.default.svc.cluster.local", weight: 90 }
                            - { name: "outbound|9080|v2|reviews.default.svc.cluster.local", weight: 10 }
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: "outbound|9080|v1|reviews.default.svc.cluster.local"
            type: STATIC
            connect_timeout: 0.25s
            lb_policy: ROUND_ROBIN
            load_assignment:
              cluster_name: "outbound|9080|v1|reviews.default.svc.cluster.local"
              endpoints:
              - locality: { region: us-east1, zone: b }
                lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9081 } } }
                  load_balancing_weight: 3
                  health_status: HEALTHY
                  metadata: { filter_metadata: { istio: { workload: reviews-v1 } } }
                - endpoint: { address: { socket_address: { address: 127.0.0.2, port_value: 9081 } } }
                  health_status: DRAINING
          - name: "outbound|9080|v2|reviews.default.svc.cluster.local"
            type: STRICT_DNS
            connect_timeout: 1s
            typed_extension_protocol_options:
              envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                explicit_http_config: { http2_protocol_options: {} }
            load_assignment:
              cluster_name: "outbound|9080|v2|reviews.default.svc.cluster.local"
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: localhost, port_value: 9082 } } }
        """;

    [Fact]
    public void Load_RealisticEnvoyYaml_TranslatesEverySection()
    {
        var loaded = Load(RealisticEnvoyYaml);
        var config = loaded.Config;

        Assert.Equal(new AdminConfig("127.0.0.1", 15000), config.Admin);
        Assert.Equal("reviews.default", config.Node.Cluster);
        var listener = Assert.Single(config.Listeners);
        Assert.Equal(("0.0.0.0", 10000), (listener.Address, listener.Port));
        var chain = Assert.Single(listener.FilterChains);
        Assert.Equal(10000, chain.Match.DestinationPort);
        var http = Assert.IsType<HttpConnectionManagerConfig>(chain.Http);
        Assert.True(http.UseRemoteAddress);
        Assert.True(http.WebSocketUpgradeEnabled);
        var routes = http.RouteConfig!;
        Assert.Equal(HeaderAppendAction.OverwriteIfExistsOrAdd, Assert.Single(routes.Headers.ResponseHeadersToAdd).Action);
        var vhost = Assert.Single(routes.VirtualHosts);
        Assert.Equal(new[] { "reviews", "reviews:9080", "*.reviews.svc" }, vhost.Domains.ToArray());
        Assert.Equal(3, vhost.Routes.Length);
        Assert.Equal(TimeSpan.Zero, vhost.Routes[0].Forward!.Timeout);
        Assert.Equal(PathMatchKind.SafeRegex, vhost.Routes[1].Match.Kind);
        Assert.Equal("/api/", vhost.Routes[1].Forward!.PrefixRewrite);
        Assert.Equal(TimeSpan.FromSeconds(15), vhost.Routes[2].Forward!.Timeout);
        var weighted = vhost.Routes[2].Forward!.WeightedClusters!.Clusters;
        Assert.Equal([90u, 10u], [weighted[0].Weight, weighted[1].Weight]);

        var v1 = config.Clusters[0];
        Assert.Equal(TimeSpan.FromMilliseconds(250), v1.ConnectTimeout);
        Assert.Equal(UpstreamProtocol.Http1, v1.Protocol);
        Assert.Equal(3u, v1.Endpoints[0].Weight);
        Assert.Equal("reviews-v1", v1.Endpoints[0].Metadata.Get("istio", "workload"));
        Assert.Equal(EndpointHealthStatus.Draining, v1.Endpoints[1].Health);
        var v2 = config.Clusters[1];
        Assert.Equal(ClusterDiscoveryType.StrictDns, v2.Type);
        Assert.Equal(UpstreamProtocol.Http2, v2.Protocol);
    }

    [Fact]
    public void Load_SameConfigAsJson_GivesTheSameTranslation()
    {
        var fromYaml = Load(RealisticEnvoyYaml).Config;
        var json = YamlJson.Parse(RealisticEnvoyYaml)!.ToJsonString();
        var fromJson = BootstrapLoader.LoadFromJson(JsonNode.Parse(json)!, "test.json", allowUnknownFields: false).Config;

        Assert.Equal(
            System.Text.Json.JsonSerializer.Serialize(fromYaml.Clusters),
            System.Text.Json.JsonSerializer.Serialize(fromJson.Clusters));
    }

    [Fact]
    public void Load_UnhonouredFields_EveryOneReportedWithItsPath()
    {
        var yaml = RealisticEnvoyYaml
            .Replace("    connect_timeout: 0.25s", "    connect_timeout: 0.25s\n    dns_lookup_family: V4_ONLY", StringComparison.Ordinal)
            .Replace("    traffic_direction: OUTBOUND", "    traffic_direction: OUTBOUND\n    per_connection_buffer_limit_bytes: 1024", StringComparison.Ordinal);

        var ex = Assert.Throws<ConfigException>(() => Load(yaml));

        Assert.Contains(ex.Errors, e => e.Contains("static_resources.clusters[0].dns_lookup_family", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Contains("static_resources.listeners[0].per_connection_buffer_limit_bytes", StringComparison.Ordinal));
        Assert.Equal(2, ex.Errors.Count);
    }

    [Fact]
    public void Load_UnknownFieldsAllowed_RemovedAndRecorded()
    {
        var yaml = RealisticEnvoyYaml.Replace("    connect_timeout: 0.25s", "    connect_timeout: 0.25s\n    dns_lookup_family: V4_ONLY", StringComparison.Ordinal);

        var loaded = BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: true);

        Assert.Equal(["static_resources.clusters[0].dns_lookup_family"], loaded.IgnoredFields);
        Assert.Equal(2, loaded.Config.Clusters.Length);
    }

    [Fact]
    public void Load_UnknownTypedConfig_ErrorNamesTheTypeUrl()
    {
        var yaml = RealisticEnvoyYaml.Replace(
            "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
            "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            StringComparison.Ordinal);

        var ex = Assert.Throws<ConfigException>(() => Load(yaml));

        var error = Assert.Single(ex.Errors);
        Assert.Contains("http_filters[0].typed_config", error, StringComparison.Ordinal);
        Assert.Contains("type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BadEnumValue_ErrorListsTheSupportedValues()
    {
        var yaml = RealisticEnvoyYaml.Replace("lb_policy: ROUND_ROBIN", "lb_policy: ROUND_ROBBIN", StringComparison.Ordinal);

        var ex = Assert.Throws<ConfigException>(() => Load(yaml));

        var error = Assert.Single(ex.Errors);
        Assert.Contains("static_resources.clusters[0].lb_policy", error, StringComparison.Ordinal);
        Assert.Contains("ROUND_ROBIN", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_HonouredButNotBuiltField_RefusedNotIgnored()
    {
        var yaml = RealisticEnvoyYaml.Replace(
            "prefix_rewrite: /api/ }",
            "prefix_rewrite: /api/, idle_timeout: 5s }",
            StringComparison.Ordinal);

        var ex = Assert.Throws<ConfigException>(() => Load(yaml));

        var error = Assert.Single(ex.Errors);
        Assert.Contains("virtual_hosts[0].routes[1].route.idle_timeout", error, StringComparison.Ordinal);
        Assert.Contains("not supported yet", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SemanticErrors_AllCollectedAtOnce()
    {
        var yaml = RealisticEnvoyYaml
            .Replace("weight: 90 }", "weight: 0 }", StringComparison.Ordinal)
            .Replace("weight: 10 }", "weight: 0 }", StringComparison.Ordinal)
            .Replace("port_value: 9082", "port_value: 0", StringComparison.Ordinal)
            .Replace("regex: \"/api/v[0-9]+/.*\"", "regex: \"/api/(unclosed\"", StringComparison.Ordinal);

        var ex = Assert.Throws<ConfigException>(() => Load(yaml));

        Assert.Contains(ex.Errors, e => e.Contains("weighted_clusters.clusters: the sum of weights must be greater than 0", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Contains("clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Contains("routes[1].match.safe_regex.regex: invalid regex", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_Re2OnlyRegexSyntax_AcceptedAsTheRouterCompilesIt()
    {
        var yaml = RealisticEnvoyYaml.Replace("regex: \"/api/v[0-9]+/.*\"", "regex: \"/api/(?P<version>v[[:digit:]]+)/.*\"", StringComparison.Ordinal);

        var loaded = Load(yaml);

        Assert.Equal("/api/(?P<version>v[[:digit:]]+)/.*", loaded.Config.Listeners[0].FilterChains[0].Http!.RouteConfig!.VirtualHosts[0].Routes[1].Match.Value);
    }

    [Fact]
    public void Load_LegacyEmptyExactMatch_BecomesPresenceCheck()
    {
        var yaml = RealisticEnvoyYaml.Replace("string_match: { exact: canary-tester }", "exact_match: \"\"", StringComparison.Ordinal);

        var header = Load(yaml).Config.Listeners[0].FilterChains[0].Http!.RouteConfig!.VirtualHosts[0].Routes[0].Match.Headers[0];

        Assert.Null(header.StringMatch);
        Assert.Null(header.PresentMatch);
    }

    [Fact]
    public void Load_DuplicateClusterNames_Rejected()
    {
        var yaml = RealisticEnvoyYaml.Replace(
            "- name: \"outbound|9080|v2|reviews.default.svc.cluster.local\"\n    type: STRICT_DNS",
            "- name: \"outbound|9080|v1|reviews.default.svc.cluster.local\"\n    type: STRICT_DNS",
            StringComparison.Ordinal);

        var ex = Assert.Throws<ConfigException>(() => Load(yaml));

        Assert.Contains(ex.Errors, e => e.Contains("static_resources.clusters[1].name: duplicate cluster name", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_ConfigYamlOverlay_MergesLikeProtobuf()
    {
        var path = Path.Combine(Path.GetTempPath(), "sharpproxy-loader-" + Guid.NewGuid().ToString("N") + ".yaml");
        File.WriteAllText(path, RealisticEnvoyYaml);
        try
        {
            var loaded = BootstrapLoader.Load(path, "admin: { address: { socket_address: { address: 127.0.0.1, port_value: 15999 } } }", allowUnknownFields: false);

            Assert.Equal(15999, loaded.Config.Admin!.Port);
            Assert.Equal(2, loaded.Config.Clusters.Length);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_MissingFile_ErrorNamesTheFile()
    {
        var ex = Assert.Throws<ConfigException>(() => BootstrapLoader.Load("/nonexistent/sharpproxy.yaml", null, allowUnknownFields: false));

        Assert.StartsWith("/nonexistent/sharpproxy.yaml: cannot read", Assert.Single(ex.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_InvalidYaml_ErrorGivesLineAndColumn()
    {
        var ex = Assert.Throws<FormatException>(() => YamlJson.Parse("a: [1, 2\nb: c"));

        Assert.StartsWith("invalid YAML", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("v: 8080", "8080")]
    [InlineData("v: \"8080\"", "\"8080\"")]
    [InlineData("v: true", "true")]
    [InlineData("v: 'true'", "\"true\"")]
    [InlineData("v: 0.25", "0.25")]
    [InlineData("v: 0.25s", "\"0.25s\"")]
    [InlineData("v: ~", "null")]
    public void Parse_Scalars_TypedAsEnvoyReadsYaml(string yaml, string expectedJson)
    {
        var node = YamlJson.Parse(yaml)!;

        Assert.Equal(expectedJson, node["v"]?.ToJsonString() ?? "null");
    }

    private static LoadedBootstrap Load(string yaml) =>
        BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: false);
}
