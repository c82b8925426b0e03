using System.Globalization;
using System.Net;
using System.Net.Sockets;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Istio standard metrics and Envoy stats after real requests through the real proxy: the Prometheus exposition (admin
/// and --prometheus-port) parses strictly, and counts, histogram counts and labels are what was sent and configured.
/// </summary>
public sealed class MetricsTests(ITestOutputHelper output)
{
    private const string EchoCluster = "outbound|80||echo.testns.svc.cluster.local";
    private const string EmptyCluster = "outbound|80||empty.testns.svc.cluster.local";
    private const string GrpcCluster = "outbound|81||grpc.testns.svc.cluster.local";

    /// <summary>
    /// Node metadata as pilot-agent writes it; listener <c>outbound</c> (OUTBOUND): /echo to an echo upstream whose endpoint
    /// carries istio.workload, /empty to a cluster without endpoints (503 UH), /test.Echo/ to the gRPC upstream; listener
    /// <c>inbound</c> (INBOUND) to the echo upstream. Placeholders: HTTP1_PORT, HTTP2_PORT.
    /// </summary>
    private const string Config = """
        node:
          id: sidecar~10.1.2.3~productpage-v1-6b746f74dc-9stvs.bookinfo~bookinfo.svc.cluster.local
          cluster: productpage.bookinfo
          metadata:
            NAME: productpage-v1-6b746f74dc-9stvs
            NAMESPACE: bookinfo
            WORKLOAD_NAME: productpage-v1
            CLUSTER_ID: test-cluster
            MESH_ID: cluster.local
            LABELS:
              app: productpage
              version: v1
              service.istio.io/canonical-name: productpage
              service.istio.io/canonical-revision: v1
        admin:
          address:
            socket_address:
              address: 127.0.0.1
              port_value: 0
        static_resources:
          listeners:
          - name: outbound
            traffic_direction: OUTBOUND
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: outbound_http
                  codec_type: AUTO
                  route_config:
                    name: outbound
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: { prefix: "/echo" }
                        route: { cluster: "outbound|80||echo.testns.svc.cluster.local" }
                      - match: { prefix: "/empty" }
                        route: { cluster: "outbound|80||empty.testns.svc.cluster.local" }
                      - match: { prefix: "/test.Echo/" }
                        route: { cluster: "outbound|81||grpc.testns.svc.cluster.local" }
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          - name: inbound
            traffic_direction: INBOUND
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: inbound_0.0.0.0_9080
                  codec_type: AUTO
                  route_config:
                    name: inbound
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: { prefix: "/" }
                        route: { cluster: "inbound|9080||" }
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: "outbound|80||echo.testns.svc.cluster.local"
            connect_timeout: 1s
            type: STATIC
            load_assignment:
              cluster_name: echo
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address: { address: 127.0.0.1, port_value: {{HTTP1_PORT}} }
                  metadata:
                    filter_metadata:
                      istio:
                        workload: "echo-v1;testns;echo;v1;test-cluster"
          - name: "outbound|80||empty.testns.svc.cluster.local"
            connect_timeout: 1s
            type: STATIC
            load_assignment:
              cluster_name: empty
              endpoints: []
          - name: "outbound|81||grpc.testns.svc.cluster.local"
            connect_timeout: 1s
            type: STATIC
            typed_extension_protocol_options:
              envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                explicit_http_config:
                  http2_protocol_options: {}
            load_assignment:
              cluster_name: grpc
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address: { address: 127.0.0.1, port_value: {{HTTP2_PORT}} }
          - name: "inbound|9080||"
            connect_timeout: 1s
            type: STATIC
            load_assignment:
              cluster_name: inbound
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address: { address: 127.0.0.1, port_value: {{HTTP1_PORT}} }
        """;

    [Fact]
    public async Task KnownRequests_PrometheusExposition_CountsHistogramsAndLabelsExact()
    {
        await using var upstream = await EchoUpstream.StartAsync("v1");
        using var config = ConfigWriter.Write(Config + "\n", ("HTTP1_PORT", upstream.Http1Port), ("HTTP2_PORT", upstream.Http2Port));
        var scrapePort = FreeLoopbackPort();
        await using var proxy = await ProxyProcess.StartAsync(config.Path, ["--prometheus-port", scrapePort.ToString(CultureInfo.InvariantCulture)]);
        try
        {
            var outbound = await proxy.GetListenerUriAsync("outbound");
            var inbound = await proxy.GetListenerUriAsync("inbound");
            using (var client = TestHttp.Http1(outbound))
            {
                for (var i = 0; i < 7; i++)
                {
                    using var ok = await client.PostAsync("/echo/" + i, new StringContent(new string('x', 100)));
                    Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
                }

                for (var i = 0; i < 3; i++)
                {
                    using var uh = await client.GetAsync("/empty");
                    Assert.Equal(HttpStatusCode.ServiceUnavailable, uh.StatusCode);
                }

                for (var i = 0; i < 2; i++)
                {
                    using var nr = await client.GetAsync("/no-route");
                    Assert.Equal(HttpStatusCode.NotFound, nr.StatusCode);
                }
            }

            using (var grpc = new GrpcTestClient(outbound))
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                var failed = await grpc.FailAsync(cts.Token);
                Assert.Equal(EchoUpstream.FailStatus, failed.GrpcStatus);
            }

            using (var client = TestHttp.Http1(inbound))
            {
                for (var i = 0; i < 2; i++)
                {
                    using var ok = await client.GetAsync("/in/" + i);
                    Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
                }
            }

            // The metrics hook runs as the request ends, which may be just after the client saw the response.
            PrometheusScrape? scrape = null;
            await Polling.UntilAsync(
                async () =>
                {
                    var (status, body) = await proxy.AdminGetAsync("/stats/prometheus");
                    Assert.Equal(HttpStatusCode.OK, status);
                    scrape = PrometheusScrape.Parse(body);
                    return scrape.Sum("istio_requests_total") >= 15;
                },
                TimeSpan.FromSeconds(10),
                "15 requests in istio_requests_total");

            AssertIstioMetrics(scrape!);
            AssertEnvoyStats(scrape!);

            var (_, text) = await proxy.AdminGetAsync("/stats");
            Assert.Contains($"cluster.{EchoCluster}.upstream_rq_200: 7\n", text, StringComparison.Ordinal);
            Assert.Contains("http.outbound_http.downstream_rq_5xx: 3\n", text, StringComparison.Ordinal);
            Assert.Contains("server.live: 1\n", text, StringComparison.Ordinal);

            await AssertScrapePortAsync(scrapePort);

            // Every client above is disposed: the listeners' active-connection gauges come back to zero.
            await Polling.UntilAsync(
                async () =>
                {
                    var (_, body) = await proxy.AdminGetAsync("/stats/prometheus");
                    return PrometheusScrape.Parse(body).Sum("envoy_listener_downstream_cx_active") == 0;
                },
                TimeSpan.FromSeconds(10),
                "envoy_listener_downstream_cx_active back to 0");
        }
        finally
        {
            output.WriteLine(proxy.Describe(16 * 1024));
        }
    }

    private static void AssertIstioMetrics(PrometheusScrape scrape)
    {
        (string, string)[] ok = [("reporter", "source"), ("response_code", "200"), ("request_protocol", "http")];
        var requests = Assert.Single(scrape.Samples("istio_requests_total", ok));
        Assert.Equal(7, requests.Value);
        var expected = new Dictionary<string, string>
        {
            ["reporter"] = "source",
            ["source_workload"] = "productpage-v1",
            ["source_canonical_service"] = "productpage",
            ["source_canonical_revision"] = "v1",
            ["source_workload_namespace"] = "bookinfo",
            ["source_principal"] = "unknown",
            ["source_app"] = "productpage",
            ["source_version"] = "v1",
            ["source_cluster"] = "test-cluster",
            ["destination_workload"] = "echo-v1",
            ["destination_workload_namespace"] = "testns",
            ["destination_principal"] = "unknown",
            ["destination_app"] = "unknown",
            ["destination_version"] = "unknown",
            ["destination_service"] = "echo.testns.svc.cluster.local",
            ["destination_canonical_service"] = "echo",
            ["destination_canonical_revision"] = "v1",
            ["destination_service_name"] = "echo",
            ["destination_service_namespace"] = "testns",
            ["destination_cluster"] = "test-cluster",
            ["request_protocol"] = "http",
            ["response_code"] = "200",
            ["grpc_response_status"] = "",
            ["response_flags"] = "-",
            ["connection_security_policy"] = "unknown",
        };
        Assert.Equal(expected.OrderBy(l => l.Key, StringComparer.Ordinal), requests.Labels.OrderBy(l => l.Key, StringComparer.Ordinal));

        Assert.Equal(7, Assert.Single(scrape.Samples("istio_request_duration_milliseconds_count", ok)).Value);
        Assert.Equal(7, Assert.Single(scrape.Samples("istio_request_bytes_count", ok)).Value);
        Assert.Equal(700, Assert.Single(scrape.Samples("istio_request_bytes_sum", ok)).Value);
        Assert.Equal(7, Assert.Single(scrape.Samples("istio_request_bytes_bucket", [.. ok, ("le", "100")])).Value);
        Assert.Equal(0, Assert.Single(scrape.Samples("istio_request_bytes_bucket", [.. ok, ("le", "50")])).Value);
        Assert.Equal(7, Assert.Single(scrape.Samples("istio_response_bytes_count", ok)).Value);
        Assert.True(Assert.Single(scrape.Samples("istio_response_bytes_sum", ok)).Value > 0, "the echo bodies were counted");

        var uh = Assert.Single(scrape.Samples("istio_requests_total", ("response_flags", "UH")));
        Assert.Equal(3, uh.Value);
        Assert.Equal(("503", "unknown", "empty.testns.svc.cluster.local", "empty"), (uh.Label("response_code"), uh.Label("destination_workload"), uh.Label("destination_service"), uh.Label("destination_service_name")));
        Assert.Equal(3, Assert.Single(scrape.Samples("istio_request_duration_milliseconds_count", ("response_flags", "UH"))).Value);

        var nr = Assert.Single(scrape.Samples("istio_requests_total", ("response_flags", "NR")));
        Assert.Equal((2d, "404", "unknown"), (nr.Value, nr.Label("response_code"), nr.Label("destination_service")));

        var grpc = Assert.Single(scrape.Samples("istio_requests_total", ("request_protocol", "grpc")));
        Assert.Equal((1d, "200", "13", "grpc.testns.svc.cluster.local"), (grpc.Value, grpc.Label("response_code"), grpc.Label("grpc_response_status"), grpc.Label("destination_service")));

        var server = Assert.Single(scrape.Samples("istio_requests_total", ("reporter", "destination")));
        Assert.Equal(2, server.Value);
        Assert.Equal(
            ("unknown", "productpage-v1", "bookinfo", "productpage", "v1", "productpage", "none"),
            (server.Label("source_workload"), server.Label("destination_workload"), server.Label("destination_workload_namespace"), server.Label("destination_app"),
                server.Label("destination_version"), server.Label("destination_service"), server.Label("connection_security_policy")));

        Assert.Equal(15, scrape.Sum("istio_request_duration_milliseconds_count"));
        Assert.Equal("histogram", scrape.Family("istio_response_bytes").Type);
        Assert.Equal("counter", scrape.Family("istio_tcp_connections_opened_total").Type);
    }

    private static void AssertEnvoyStats(PrometheusScrape scrape)
    {
        (string, string) echo = ("envoy_cluster_name", EchoCluster);
        Assert.Equal(7, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq_total", echo)).Value);
        Assert.Equal(7, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq", echo, ("envoy_response_code", "200"))).Value);
        Assert.Equal(7, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq_xx", echo, ("envoy_response_code_class", "2"))).Value);
        Assert.True(Assert.Single(scrape.Samples("envoy_cluster_upstream_cx_total", echo)).Value >= 1);
        Assert.Equal(3, Assert.Single(scrape.Samples("envoy_cluster_upstream_cx_none_healthy", ("envoy_cluster_name", EmptyCluster))).Value);
        Assert.Equal(1, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq_total", ("envoy_cluster_name", GrpcCluster))).Value);

        (string, string) outbound = ("envoy_http_conn_manager_prefix", "outbound_http");
        Assert.Equal(13, Assert.Single(scrape.Samples("envoy_http_downstream_rq_total", outbound)).Value);
        Assert.Equal(8, Assert.Single(scrape.Samples("envoy_http_downstream_rq_xx", outbound, ("envoy_response_code_class", "2"))).Value);
        Assert.Equal(2, Assert.Single(scrape.Samples("envoy_http_downstream_rq_xx", outbound, ("envoy_response_code_class", "4"))).Value);
        Assert.Equal(3, Assert.Single(scrape.Samples("envoy_http_downstream_rq_xx", outbound, ("envoy_response_code_class", "5"))).Value);
        Assert.Equal(2, Assert.Single(scrape.Samples("envoy_http_downstream_rq_total", ("envoy_http_conn_manager_prefix", "inbound_0.0.0.0_9080"))).Value);
        Assert.True(scrape.Sum("envoy_listener_downstream_cx_total") >= 3, "three clients connected");
        Assert.Equal("gauge", scrape.Family("envoy_listener_downstream_cx_active").Type);
        Assert.Equal(1, Assert.Single(scrape.Samples("envoy_server_live")).Value);
        Assert.True(Assert.Single(scrape.Samples("envoy_server_memory_allocated")).Value > 0);
        Assert.True(Assert.Single(scrape.Samples("envoy_server_concurrency")).Value >= 1);
    }

    private static async Task AssertScrapePortAsync(int port)
    {
        using var client = TestHttp.Http1(new Uri($"http://127.0.0.1:{port}/"));
        using var response = await client.GetAsync("/stats/prometheus");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var scrape = PrometheusScrape.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(7, Assert.Single(scrape.Samples("istio_requests_total", ("reporter", "source"), ("response_code", "200"), ("request_protocol", "http"))).Value);

        using var other = await client.GetAsync("/stats");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }

    private static int FreeLoopbackPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
