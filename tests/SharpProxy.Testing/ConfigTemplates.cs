using System.Globalization;

namespace SharpProxy.Testing;

/// <summary>
/// Envoy v3 bootstrap templates used by the end-to-end tests. Listeners and the admin listener bind 127.0.0.1 port 0
/// (the test reads the real port from admin <c>/listeners</c>); cluster endpoints are <c>{{PLACEHOLDERS}}</c> filled with
/// the ports of real <see cref="EchoUpstream"/>s. Only fields of the documented supported subset are used.
/// </summary>
public static class ConfigTemplates
{
    /// <summary>Name of the listener every template has.</summary>
    public const string ListenerName = "main";

    /// <summary>Second listener of <see cref="Forwarding"/>, with <c>use_remote_address: true</c>.</summary>
    public const string EdgeListenerName = "edge";

    /// <summary>Header that selects the HTTP/2 upstream cluster in <see cref="Forwarding"/>.</summary>
    public const string UpstreamSelectorHeader = "x-upstream";

    public const string CanaryHeader = "canary";
    public const string CanaryHeaderValue = "canary-tester";

    /// <summary>Route timeout of the <c>/delay</c> route in <see cref="LocalReplies"/>.</summary>
    public static readonly TimeSpan LocalRepliesDelayTimeout = TimeSpan.FromMilliseconds(500);

    private const string Admin = """
        admin:
          address:
            socket_address:
              address: 127.0.0.1
              port_value: 0
        """;

    private const string RouterFilter = """
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
        """;

    /// <summary>
    /// Listener <c>main</c> (a sidecar-style HCM: no <c>use_remote_address</c>) with websocket upgrades; <c>/test.Echo/*</c>
    /// (gRPC) and requests with header <c>x-upstream: h2</c> go to cluster <c>v1_h2</c> (HTTP/2 upstream), everything else to
    /// <c>v1</c> (HTTP/1.1 upstream). Listener <c>edge</c> (<c>use_remote_address: true</c>, so x-forwarded-for is appended
    /// as Envoy does at the edge) sends everything to <c>v1</c>. Placeholders: V1_HTTP1_PORT, V1_HTTP2_PORT.
    /// </summary>
    public const string Forwarding = Admin + "\n" + """
        static_resources:
          listeners:
          - name: main
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress_http
                  codec_type: AUTO
                  upgrade_configs:
                  - upgrade_type: websocket
                  route_config:
                    name: local_route
                    virtual_hosts:
                    - name: backend
                      domains:
                      - "*"
                      routes:
                      - match:
                          prefix: "/test.Echo/"
                        route:
                          cluster: v1_h2
                      - match:
                          prefix: "/"
                          headers:
                          - name: x-upstream
                            string_match:
                              exact: h2
                        route:
                          cluster: v1_h2
                      - match:
                          prefix: "/"
                        route:
                          cluster: v1
        """ + "\n" + RouterFilter + "\n" + """
          - name: edge
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: edge_http
                  codec_type: AUTO
                  use_remote_address: true
                  route_config:
                    name: edge_route
                    virtual_hosts:
                    - name: edge
                      domains:
                      - "*"
                      routes:
                      - match:
                          prefix: "/"
                        route:
                          cluster: v1
        """ + "\n" + RouterFilter + "\n" + """
          clusters:
          - name: v1
            connect_timeout: 1s
            type: STATIC
            lb_policy: ROUND_ROBIN
            load_assignment:
              cluster_name: v1
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: {{V1_HTTP1_PORT}}
          - name: v1_h2
            connect_timeout: 1s
            type: STATIC
            lb_policy: ROUND_ROBIN
            typed_extension_protocol_options:
              envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                explicit_http_config:
                  http2_protocol_options: {}
            load_assignment:
              cluster_name: v1_h2
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: {{V1_HTTP2_PORT}}
        """ + "\n";

    /// <summary>
    /// Istio's canary: route 1 sends header <c>canary: canary-tester</c> to cluster v2; route 2 splits v1 90 / v2 10 with
    /// <c>weighted_clusters</c>. Placeholders: V1_HTTP1_PORT, V2_HTTP1_PORT.
    /// </summary>
    public const string Canary = Admin + "\n" + """
        static_resources:
          listeners:
          - name: main
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress_http
                  codec_type: AUTO
                  route_config:
                    name: canary_route
                    virtual_hosts:
                    - name: reviews
                      domains:
                      - "*"
                      routes:
                      - match:
                          prefix: "/"
                          headers:
                          - name: canary
                            string_match:
                              exact: canary-tester
                        route:
                          cluster: v2
                      - match:
                          prefix: "/"
                        route:
                          weighted_clusters:
                            clusters:
                            - name: v1
                              weight: 90
                            - name: v2
                              weight: 10
        """ + "\n" + RouterFilter + "\n" + """
          clusters:
          - name: v1
            connect_timeout: 1s
            type: STATIC
            lb_policy: ROUND_ROBIN
            load_assignment:
              cluster_name: v1
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: {{V1_HTTP1_PORT}}
          - name: v2
            connect_timeout: 1s
            type: STATIC
            lb_policy: ROUND_ROBIN
            load_assignment:
              cluster_name: v2
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: {{V2_HTTP1_PORT}}
        """ + "\n";

    /// <summary>
    /// Routes that end in local replies: <c>/uh</c> to a cluster without endpoints (503 UH), <c>/uf</c> to a closed port
    /// (503 UF), <c>/delay</c> to v1 with a 500 ms route timeout (504 UT), <c>/ok</c> to v1; any other path has no route (404 NR).
    /// Placeholders: V1_HTTP1_PORT, CLOSED_PORT.
    /// </summary>
    public const string LocalReplies = Admin + "\n" + """
        static_resources:
          listeners:
          - name: main
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress_http
                  codec_type: AUTO
                  access_log:
                  - name: envoy.access_loggers.file
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                      path: "{{ACCESS_LOG_PATH}}"
                  route_config:
                    name: local_replies
                    virtual_hosts:
                    - name: backend
                      domains:
                      - "*"
                      routes:
                      - match:
                          prefix: "/uh"
                        route:
                          cluster: empty
                      - match:
                          prefix: "/uf"
                        route:
                          cluster: closed
                      - match:
                          prefix: "/delay/"
                        route:
                          cluster: v1
                          timeout: 0.5s
                      - match:
                          prefix: "/ok"
                        route:
                          cluster: v1
        """ + "\n" + RouterFilter + "\n" + """
          clusters:
          - name: v1
            connect_timeout: 1s
            type: STATIC
            lb_policy: ROUND_ROBIN
            load_assignment:
              cluster_name: v1
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: {{V1_HTTP1_PORT}}
          - name: empty
            connect_timeout: 1s
            type: STATIC
            lb_policy: ROUND_ROBIN
            load_assignment:
              cluster_name: empty
              endpoints: []
          - name: closed
            connect_timeout: 1s
            type: STATIC
            lb_policy: ROUND_ROBIN
            load_assignment:
              cluster_name: closed
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: {{CLOSED_PORT}}
        """ + "\n";

    /// <summary>
    /// A route to a cluster that does not exist. Envoy rejects that for a static route_config unless
    /// <c>validate_clusters: false</c>; with it, requests get 503 with flag NC. Placeholders: V1_HTTP1_PORT.
    /// </summary>
    public const string UnknownCluster = Admin + "\n" + """
        static_resources:
          listeners:
          - name: main
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress_http
                  codec_type: AUTO
                  route_config:
                    name: unknown_cluster
                    validate_clusters: false
                    virtual_hosts:
                    - name: backend
                      domains:
                      - "*"
                      routes:
                      - match:
                          prefix: "/nc"
                        route:
                          cluster: does-not-exist
                      - match:
                          prefix: "/"
                        route:
                          cluster: v1
        """ + "\n" + RouterFilter + "\n" + """
          clusters:
          - name: v1
            connect_timeout: 1s
            type: STATIC
            lb_policy: ROUND_ROBIN
            load_assignment:
              cluster_name: v1
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: {{V1_HTTP1_PORT}}
        """ + "\n";

    public static TempConfigFile WriteForwarding(EchoUpstream v1)
    {
        ArgumentNullException.ThrowIfNull(v1);
        return ConfigWriter.Write(Forwarding, ("V1_HTTP1_PORT", v1.Http1Port), ("V1_HTTP2_PORT", v1.Http2Port));
    }

    public static TempConfigFile WriteCanary(EchoUpstream v1, EchoUpstream v2)
    {
        ArgumentNullException.ThrowIfNull(v1);
        ArgumentNullException.ThrowIfNull(v2);
        return ConfigWriter.Write(Canary, ("V1_HTTP1_PORT", v1.Http1Port), ("V2_HTTP1_PORT", v2.Http1Port));
    }

    public static TempConfigFile WriteLocalReplies(EchoUpstream v1, int closedPort, string accessLogPath) =>
        ConfigWriter.Write(LocalReplies, ("V1_HTTP1_PORT", v1.Http1Port), ("CLOSED_PORT", closedPort.ToString(CultureInfo.InvariantCulture)), ("ACCESS_LOG_PATH", accessLogPath));

    public static TempConfigFile WriteUnknownCluster(EchoUpstream v1)
    {
        ArgumentNullException.ThrowIfNull(v1);
        return ConfigWriter.Write(UnknownCluster, ("V1_HTTP1_PORT", v1.Http1Port));
    }
}
