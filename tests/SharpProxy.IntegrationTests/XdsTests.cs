using System.Diagnostics;
using System.Globalization;
using System.Net;
using Google.Protobuf;
using SharpProxy.Testing;
using SharpProxy.Xds.Api.Config.Route.V3;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// SharpProxy fed by a real ADS server (<see cref="XdsTestServer"/>: gRPC over HTTP/2 on Kestrel): initial load with
/// warming (EDS clusters, RDS listeners), ACK and NACK as Envoy sends them, weights moved by pushes under load,
/// removal, reconnect, both protocol variants, TCP and Unix socket.
/// </summary>
public sealed class XdsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Listener = "xds_listener";
    private EchoUpstream _v1 = null!;
    private EchoUpstream _v2 = null!;

    public async Task InitializeAsync()
    {
        _v1 = await EchoUpstream.StartAsync("v1");
        _v2 = await EchoUpstream.StartAsync("v2");
    }

    public async Task DisposeAsync()
    {
        await _v1.DisposeAsync();
        await _v2.DisposeAsync();
    }

    [Theory]
    [InlineData("GRPC")]
    [InlineData("DELTA_GRPC")]
    public async Task InitialLoad_WarmsAndRoutes_AcksEveryResponse(string apiType)
    {
        await using var xds = await XdsTestServer.StartAsync();
        SetBaseline(xds, v1Weight: 100, v2Weight: 0, version: "1");
        await using var proxy = await StartProxyAsync(xds, apiType);
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(Listener));

        using (var response = await client.GetAsync("/hello"))
        {
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
            Assert.Equal("v1", ProxyAssert.UpstreamLabel(response));
        }

        var requests = xds.Requests;
        Assert.Equal("sidecar~127.0.0.1~test.default~default.svc.cluster.local", requests[0].NodeId);
        Assert.Equal(XdsTestServer.ClusterType, requests[0].TypeUrl);
        Assert.DoesNotContain(requests, r => r.IsNack);

        // Envoy's subscriptions: EDS by the clusters' service names, RDS by the listener's route name.
        Assert.Contains(requests, r => r.TypeUrl == XdsTestServer.EndpointType && r.Names.Order().SequenceEqual(["v1", "v2"]));
        Assert.Contains(requests, r => r.TypeUrl == XdsTestServer.RouteType && r.Names.SequenceEqual(["route"]));
        foreach (var type in new[] { XdsTestServer.ClusterType, XdsTestServer.EndpointType, XdsTestServer.ListenerType, XdsTestServer.RouteType })
        {
            var ack = xds.LastRequest(type);
            Assert.NotNull(ack);
            Assert.NotEqual("", ack.ResponseNonce);
            if (apiType == "GRPC")
            {
                Assert.Equal("1", ack.VersionInfo);
            }
        }

        var (_, stats) = await proxy.AdminGetAsync("/stats");
        Assert.Contains("control_plane.connected_state: 1", stats, StringComparison.Ordinal);
        Assert.Contains("cluster_manager.cds.update_success: 1", stats, StringComparison.Ordinal);

        // /config_dump shows the dynamic resources in Envoy's shape, with their versions.
        var (_, dump) = await proxy.AdminGetAsync("/config_dump");
        using var document = System.Text.Json.JsonDocument.Parse(dump);
        var configs = document.RootElement.GetProperty("configs");
        var clusters = configs[1].GetProperty("dynamic_active_clusters");
        Assert.Equal(2, clusters.GetArrayLength());
        Assert.Equal("1", clusters[0].GetProperty("version_info").GetString());
        Assert.Equal("v1", clusters[0].GetProperty("cluster").GetProperty("name").GetString());
        Assert.Equal(Listener, configs[2].GetProperty("dynamic_listeners")[0].GetProperty("name").GetString());
        Assert.Equal("route", configs[3].GetProperty("dynamic_route_configs")[0].GetProperty("route_config").GetProperty("name").GetString());
        Assert.Equal(2, configs[4].GetProperty("dynamic_endpoint_configs").GetArrayLength());
    }

    [Fact]
    public async Task ServerUnreachable_ReadyAfterInitialFetchTimeout_WithStaticConfig()
    {
        await using var xds = await XdsTestServer.StartAsync();
        var port = xds.Port;
        await xds.DisposeAsync();

        var started = Stopwatch.StartNew();
        await using var proxy = await StartProxyAsync(port, unixSocketPath: null, "GRPC", initialFetchTimeout: "1s");
        output.WriteLine($"ready after {started.ElapsedMilliseconds} ms with the server down");
        var (status, stats) = await proxy.AdminGetAsync("/stats");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("control_plane.connected_state: 0", stats, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnixSocket_ServesTheSameConfig()
    {
        var socket = Path.Combine(Path.GetTempPath(), "sp-xds-" + Guid.NewGuid().ToString("N")[..8] + ".sock");
        await using var xds = await XdsTestServer.StartAsync(unixSocketPath: socket);
        SetBaseline(xds, v1Weight: 0, v2Weight: 100, version: "1");
        await using var proxy = await StartProxyAsync(xds, "DELTA_GRPC");
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(Listener));

        using var response = await client.GetAsync("/");
        await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
        Assert.Equal("v2", ProxyAssert.UpstreamLabel(response));
    }

    [Theory]
    [InlineData("xds.test", true)]
    [InlineData("other.test", false)]
    public async Task TlsControlPlane_ServerSanChecked_ConfigArrivesOnlyFromTheRightServer(string expectedSan, bool accepted)
    {
        using var certificates = new TestCertificates();
        var server = certificates.Issue("xds", dnsNames: ["xds.test"]);
        await using var xds = await XdsTestServer.StartAsync(certificate: server.Certificate);
        SetBaseline(xds, v1Weight: 0, v2Weight: 100, version: "1");
        var tls = $$"""
                transport_socket:
                  name: envoy.transport_sockets.tls
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
                    sni: xds.test
                    common_tls_context:
                      validation_context:
                        trusted_ca: { filename: "{{certificates.CaPath}}" }
                        match_typed_subject_alt_names: [ { san_type: DNS, matcher: { exact: "{{expectedSan}}" } } ]
            """;
        await using var proxy = await StartProxyAsync(xds.Port, unixSocketPath: null, "DELTA_GRPC", initialFetchTimeout: accepted ? "15s" : "2s", clusterExtra: tls);

        var (_, stats) = await proxy.AdminGetAsync("/stats");
        if (accepted)
        {
            using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(Listener));
            using var response = await client.GetAsync("/");
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
            Assert.Equal("v2", ProxyAssert.UpstreamLabel(response));
            Assert.Contains("control_plane.connected_state: 1", stats, StringComparison.Ordinal);
        }
        else
        {
            // A server whose certificate does not carry the expected SAN is never trusted: no config, never connected.
            Assert.Empty(xds.Requests);
            Assert.Contains("control_plane.connected_state: 0", stats, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("GRPC")]
    [InlineData("DELTA_GRPC")]
    public async Task WeightsMovedByPushes_UnderLoad_NoFailedRequest_SplitFollowsEachStep(string apiType)
    {
        await using var xds = await XdsTestServer.StartAsync();
        SetBaseline(xds, v1Weight: 100, v2Weight: 0, version: "1");
        await using var proxy = await StartProxyAsync(xds, apiType);
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(Listener));

        // A bounded background loop keeps traffic flowing through every push; not one request may fail.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var failures = 0;
        var sent = 0;
        var load = Task.Run(async () =>
        {
            using var loadClient = TestHttp.Http1(client.BaseAddress!);
            while (!stop.IsCancellationRequested && sent < 20_000)
            {
                using var response = await loadClient.GetAsync("/load", CancellationToken.None);
                Interlocked.Increment(ref sent);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        var pushTimes = new List<double>();
        var steps = new (uint V1, uint V2)[] { (90, 10), (50, 50), (0, 100) };
        for (var step = 0; step < steps.Length; step++)
        {
            var (v1, v2) = steps[step];
            var version = (step + 2).ToString(CultureInfo.InvariantCulture);
            var pushed = Stopwatch.StartNew();
            xds.Set(XdsTestServer.RouteType, version, XdsResources.WeightedRoute("route", ("v1", v1), ("v2", v2)));
            await Polling.UntilAsync(
                async () => (await proxy.AdminGetAsync("/stats")).Body.Contains($"xds.rds.version_text: \"{version}\"", StringComparison.Ordinal),
                TimeSpan.FromSeconds(20),
                $"RDS version {version} applied");
            pushTimes.Add(pushed.Elapsed.TotalMilliseconds);

            var onV2 = 0;
            const int Requests = 400;
            for (var i = 0; i < Requests; i++)
            {
                using var response = await client.GetAsync("/split");
                await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
                onV2 += ProxyAssert.UpstreamLabel(response) == "v2" ? 1 : 0;
            }

            output.WriteLine($"step {v1}/{v2}: {onV2}/{Requests} on v2, applied {pushTimes[^1]:F1} ms after the push");
            var expected = Requests * v2 / 100.0;

            // Binomial sd at 400 requests is at most 10; 5 sd either side, exact at 0 and 100.
            Assert.InRange(onV2, Math.Max(0, expected - 50), Math.Min(Requests, expected + 50));
            if (v2 == 100)
            {
                Assert.Equal(Requests, onV2);
            }
        }

        await stop.CancelAsync();
        await load;
        output.WriteLine($"load: {sent} requests, {failures} failed; push-to-applied ms: {string.Join(", ", pushTimes.Select(t => t.ToString("F1", CultureInfo.InvariantCulture)))}");
        Assert.True(sent > 100, $"the load loop sent only {sent} requests");
        Assert.Equal(0, failures);
    }

    [Theory]
    [InlineData("GRPC")]
    [InlineData("DELTA_GRPC")]
    public async Task InvalidRoute_Nacked_WithPathAndPreviousVersion_OldConfigKeepsServing(string apiType)
    {
        await using var xds = await XdsTestServer.StartAsync();
        SetBaseline(xds, v1Weight: 100, v2Weight: 0, version: "1");
        await using var proxy = await StartProxyAsync(xds, apiType);
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(Listener));

        var bad = XdsResources.WeightedRoute("route", ("v1", 0), ("v2", 100));
        bad.VirtualHosts[0].Routes[0].Match = new RouteMatch { SafeRegex = new SharpProxy.Xds.Api.Type.Matcher.V3.RegexMatcher { Regex = "([unclosed" } };
        xds.Set(XdsTestServer.RouteType, "2", bad);

        await Polling.UntilAsync(() => xds.LastRequest(XdsTestServer.RouteType)?.IsNack == true, TimeSpan.FromSeconds(20), "RDS NACK");
        var nack = xds.LastRequest(XdsTestServer.RouteType)!;
        output.WriteLine("NACK: " + nack.Error);
        Assert.Contains("route_configuration 'route'", nack.Error, StringComparison.Ordinal);
        Assert.Contains("safe_regex", nack.Error, StringComparison.Ordinal);
        if (apiType == "GRPC")
        {
            // A NACK carries the last accepted version, not the rejected one.
            Assert.Equal("1", nack.VersionInfo);
        }

        for (var i = 0; i < 20; i++)
        {
            using var response = await client.GetAsync("/still-v1");
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
            Assert.Equal("v1", ProxyAssert.UpstreamLabel(response));
        }

        var (_, stats) = await proxy.AdminGetAsync("/stats");
        Assert.Contains("xds.rds.update_rejected: 1", stats, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownFieldInACluster_Nacked_NamingTheField()
    {
        await using var xds = await XdsTestServer.StartAsync();
        SetBaseline(xds, v1Weight: 100, v2Weight: 0, version: "1");
        await using var proxy = await StartProxyAsync(xds, "GRPC");

        // Field 999 is not in our descriptors: a binary decoder keeps it silently, so it must be found and refused.
        var withUnknown = XdsResources.EdsCluster("v2").ToByteArray().Concat(new byte[] { 0xb8, 0x3e, 0x01 }).ToArray();
        var cluster = SharpProxy.Xds.Api.Config.Cluster.V3.Cluster.Parser.ParseFrom(withUnknown);
        xds.Set(XdsTestServer.ClusterType, "2", XdsResources.EdsCluster("v1"), cluster);

        await Polling.UntilAsync(() => xds.LastRequest(XdsTestServer.ClusterType)?.IsNack == true, TimeSpan.FromSeconds(20), "CDS NACK");
        var nack = xds.LastRequest(XdsTestServer.ClusterType)!;
        output.WriteLine("NACK: " + nack.Error);
        Assert.Contains("cluster 'v2'.#999", nack.Error, StringComparison.Ordinal);
        Assert.Equal("1", nack.VersionInfo);
    }

    [Theory]
    [InlineData("GRPC")]
    [InlineData("DELTA_GRPC")]
    public async Task ClusterRemoved_RoutesToItGet503NoCluster_ListenerRemoved_Unbinds(string apiType)
    {
        await using var xds = await XdsTestServer.StartAsync();
        SetBaseline(xds, v1Weight: 0, v2Weight: 100, version: "1");
        await using var proxy = await StartProxyAsync(xds, apiType);
        var uri = await proxy.GetListenerUriAsync(Listener);
        using var client = TestHttp.Http1(uri);

        xds.Set(XdsTestServer.ClusterType, "2", XdsResources.EdsCluster("v1"));
        await Polling.UntilAsync(
            async () =>
            {
                using var response = await client.GetAsync("/gone");
                return response.StatusCode == HttpStatusCode.ServiceUnavailable && ProxyAssert.Flags(response) == "NC";
            },
            TimeSpan.FromSeconds(20),
            "503 NC once v2 is gone");

        xds.Set(XdsTestServer.ListenerType, "2");
        await Polling.UntilAsync(
            async () => !(await proxy.AdminGetAsync("/listeners?format=json")).Body.Contains(Listener, StringComparison.Ordinal),
            TimeSpan.FromSeconds(20),
            "listener removed");
        Assert.Equal(ConnectOutcome.Refused, await TcpProbe.TryConnectAsync(uri.Port, TimeSpan.FromSeconds(2)));
    }

    [Theory]
    [InlineData("GRPC")]
    [InlineData("DELTA_GRPC")]
    public async Task ServerDropsTheStream_ProxyKeepsServing_ReconnectsWithVersions_TakesNewPushes(string apiType)
    {
        await using var xds = await XdsTestServer.StartAsync();
        SetBaseline(xds, v1Weight: 100, v2Weight: 0, version: "1");
        await using var proxy = await StartProxyAsync(xds, apiType);
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(Listener));

        xds.DropStreams();
        using (var response = await client.GetAsync("/while-disconnected"))
        {
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
            Assert.Equal("v1", ProxyAssert.UpstreamLabel(response));
        }

        await Polling.UntilAsync(() => xds.StreamCount >= 2 && xds.Requests.Any(r => r.Stream >= 2 && r.TypeUrl == XdsTestServer.RouteType), TimeSpan.FromSeconds(30), "a second stream with RDS re-subscribed");
        var resubscribe = xds.Requests.First(r => r.Stream >= 2 && r.TypeUrl == XdsTestServer.ClusterType);
        if (apiType == "GRPC")
        {
            Assert.Equal("1", resubscribe.VersionInfo);
        }
        else
        {
            Assert.Equal("1", resubscribe.InitialVersions["v1"]);
        }

        xds.Set(XdsTestServer.RouteType, "2", XdsResources.WeightedRoute("route", ("v1", 0), ("v2", 100)));
        await Polling.UntilAsync(
            async () =>
            {
                using var response = await client.GetAsync("/after");
                return ProxyAssert.UpstreamLabel(response) == "v2";
            },
            TimeSpan.FromSeconds(20),
            "the push after the reconnect is served");
    }

    private void SetBaseline(XdsTestServer xds, uint v1Weight, uint v2Weight, string version)
    {
        xds.Set(XdsTestServer.ClusterType, version, XdsResources.EdsCluster("v1"), XdsResources.EdsCluster("v2"));
        xds.Set(XdsTestServer.EndpointType, version, XdsResources.Assignment("v1", _v1.Http1Port), XdsResources.Assignment("v2", _v2.Http1Port));
        xds.Set(XdsTestServer.ListenerType, version, XdsResources.RdsListener(Listener, "route"));
        xds.Set(XdsTestServer.RouteType, version, XdsResources.WeightedRoute("route", ("v1", v1Weight), ("v2", v2Weight)));
    }

    private static Task<ProxyProcess> StartProxyAsync(XdsTestServer xds, string apiType) =>
        StartProxyAsync(xds.Port, xds.UnixSocketPath, apiType, initialFetchTimeout: "15s");

    private static async Task<ProxyProcess> StartProxyAsync(int port, string? unixSocketPath, string apiType, string initialFetchTimeout, string clusterExtra = "")
    {
        var address = unixSocketPath is { } path
            ? $"pipe: {{ path: \"{path}\" }}"
            : $"socket_address: {{ address: 127.0.0.1, port_value: {port} }}";
        var config = ConfigWriter.WriteText($$"""
            node:
              id: "sidecar~127.0.0.1~test.default~default.svc.cluster.local"
              cluster: test
            admin:
              address:
                socket_address: { address: 127.0.0.1, port_value: 0 }
            dynamic_resources:
              ads_config:
                api_type: {{apiType}}
                transport_api_version: V3
                grpc_services: [ { envoy_grpc: { cluster_name: xds-grpc } } ]
              cds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: {{initialFetchTimeout}} }
              lds_config: { ads: {}, resource_api_version: V3 }
            static_resources:
              clusters:
              - name: xds-grpc
                type: STATIC
                connect_timeout: 1s
                load_assignment:
                  cluster_name: xds-grpc
                  endpoints:
                  - lb_endpoints:
                    - endpoint: { address: { {{address}} } }
            {{clusterExtra}}
            """);
        try
        {
            return await ProxyProcess.StartAsync(config.Path, ["--concurrency", "2", "-l", "debug"]);
        }
        finally
        {
            // The proxy has read its bootstrap by the time it is ready.
            config.Dispose();
        }
    }
}
