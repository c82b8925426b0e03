using System.Diagnostics;
using System.Globalization;
using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// istiod's output for bookinfo's productpage sidecar (<see cref="IstioBookinfo"/>) served by a real ADS server to the
/// real proxy: everything is ACKed, and requests through the per-port outbound listener 0.0.0.0_9080 (bound on
/// loopback here, since no iptables hands connections over) reach reviews v1/v2/v3 by the VirtualService's weights,
/// keep their host by the DestinationRule's cookie hash, and get the route's CORS policy.
/// </summary>
public sealed class IstioBookinfoTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string ReviewsAuthority = "reviews:9080";
    private EchoUpstream _v1a = null!;
    private EchoUpstream _v1b = null!;
    private EchoUpstream _v2 = null!;
    private EchoUpstream _v3 = null!;
    private EchoUpstream _other = null!;

    public async Task InitializeAsync()
    {
        _v1a = await EchoUpstream.StartAsync("v1a");
        _v1b = await EchoUpstream.StartAsync("v1b");
        _v2 = await EchoUpstream.StartAsync("v2");
        _v3 = await EchoUpstream.StartAsync("v3");
        _other = await EchoUpstream.StartAsync("other");
    }

    public async Task DisposeAsync()
    {
        await _v1a.DisposeAsync();
        await _v1b.DisposeAsync();
        await _v2.DisposeAsync();
        await _v3.DisposeAsync();
        await _other.DisposeAsync();
    }

    [Theory]
    [InlineData("GRPC")]
    [InlineData("DELTA_GRPC")]
    public async Task IstiodShapes_AllAcked_SplitFollowsWeights(string apiType)
    {
        await using var xds = await XdsTestServer.StartAsync();
        Serve(xds, new IstioBookinfo.Placement { ReviewsV1Weight = 50, ReviewsV2Weight = 30, ReviewsV3Weight = 20 }, "1");
        await using var proxy = await StartProxyAsync(xds, apiType);
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(IstioBookinfo.OutboundListenerName));

        Assert.DoesNotContain(xds.Requests, r => r.IsNack);
        var (_, stats) = await proxy.AdminGetAsync("/stats");
        Assert.Contains("cluster_manager.cds.update_success: 1", stats, StringComparison.Ordinal);
        Assert.Contains("listener_manager.lds.update_success: 1", stats, StringComparison.Ordinal);

        // The observe-only fields istiod sends (alt_stat_name, decorator, tracing, ...) are ignored, and counted.
        Assert.Matches(@"server\.dynamic_unknown_fields: [1-9]", stats);

        const int Requests = 600;
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < Requests; i++)
        {
            using var response = await SendAsync(client, HttpMethod.Get, "/reviews/0");
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
            var label = ProxyAssert.UpstreamLabel(response)!;
            counts[label] = counts.GetValueOrDefault(label) + 1;
        }

        var v1 = counts.GetValueOrDefault("v1a") + counts.GetValueOrDefault("v1b");
        output.WriteLine($"v1 {v1}, v2 {counts.GetValueOrDefault("v2")}, v3 {counts.GetValueOrDefault("v3")} of {Requests}");

        // Binomial sd at 600 requests is at most ~12; 5 sd either side.
        Assert.InRange(v1, 300 - 62, 300 + 62);
        Assert.InRange(counts.GetValueOrDefault("v2"), 180 - 57, 180 + 57);
        Assert.InRange(counts.GetValueOrDefault("v3"), 120 - 50, 120 + 50);
        Assert.False(counts.ContainsKey("other"));

        // Another service's virtual host on the same route configuration, by its short name with the port.
        using var details = await SendAsync(client, HttpMethod.Get, "/details/0", "details:9080");
        await ProxyAssert.StatusAsync(HttpStatusCode.OK, details, proxy);
        Assert.Equal("other", ProxyAssert.UpstreamLabel(details));
    }

    [Fact]
    public async Task ConsistentHashCookie_SameUserKeepsItsV1Host_UsersSpreadOverBoth()
    {
        await using var xds = await XdsTestServer.StartAsync();
        Serve(xds, new IstioBookinfo.Placement { ReviewsV1Weight = 100, ReviewsV2Weight = 0, ReviewsV3Weight = 0 }, "1");
        await using var proxy = await StartProxyAsync(xds, "DELTA_GRPC");
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(IstioBookinfo.OutboundListenerName));

        var hostsSeen = new HashSet<string>(StringComparer.Ordinal);
        for (var user = 0; user < 20; user++)
        {
            string? first = null;
            for (var i = 0; i < 10; i++)
            {
                using var response = await SendAsync(client, HttpMethod.Get, "/reviews/" + user, cookie: $"{IstioBookinfo.CookieName}=user{user}");
                await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
                var label = ProxyAssert.UpstreamLabel(response)!;
                first ??= label;
                Assert.Equal(first, label);
            }

            hostsSeen.Add(first!);
        }

        Assert.Equal(["v1a", "v1b"], hostsSeen.Order());
    }

    [Fact]
    public async Task CorsPolicy_PreflightAnsweredLocally_SimpleRequestGetsAllowOrigin()
    {
        await using var xds = await XdsTestServer.StartAsync();
        Serve(xds, new IstioBookinfo.Placement(), "1");
        await using var proxy = await StartProxyAsync(xds, "DELTA_GRPC");
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(IstioBookinfo.OutboundListenerName));
        var upstreamRequests = UpstreamRequests();

        using (var preflight = await SendAsync(client, HttpMethod.Options, "/reviews/0", origin: IstioBookinfo.AllowedOrigin, requestMethod: "POST"))
        {
            Assert.Equal(HttpStatusCode.OK, preflight.StatusCode);
            Assert.Equal(IstioBookinfo.AllowedOrigin, Header(preflight, "access-control-allow-origin"));
            Assert.Equal("GET,POST", Header(preflight, "access-control-allow-methods"));
            Assert.Equal("x-custom", Header(preflight, "access-control-allow-headers"));
            Assert.Equal("86400", Header(preflight, "access-control-max-age"));
            Assert.Equal("true", Header(preflight, "access-control-allow-credentials"));
        }

        Assert.Equal(upstreamRequests, UpstreamRequests());

        using (var simple = await SendAsync(client, HttpMethod.Get, "/reviews/0", origin: IstioBookinfo.AllowedOrigin))
        {
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, simple, proxy);
            Assert.Equal(IstioBookinfo.AllowedOrigin, Header(simple, "access-control-allow-origin"));
            Assert.Equal("x-upstream-label", Header(simple, "access-control-expose-headers"));
        }

        // A foreign origin gets no CORS header; its preflight goes upstream (forward_not_matching_preflights true).
        using (var foreign = await SendAsync(client, HttpMethod.Options, "/reviews/0", origin: "https://evil.example", requestMethod: "POST"))
        {
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, foreign, proxy);
            Assert.Null(Header(foreign, "access-control-allow-origin"));
            Assert.NotNull(ProxyAssert.UpstreamLabel(foreign));
        }
    }

    [Fact]
    public async Task EdsPushAddsAnEndpoint_KeepAliveConnectionToTheRemainingHostSurvives()
    {
        await using var xds = await XdsTestServer.StartAsync();
        Serve(xds, new IstioBookinfo.Placement { ReviewsV1Weight = 100, ReviewsV2Weight = 0, ReviewsV3Weight = 0 }, "1", twoV1Pods: false);
        await using var proxy = await StartProxyAsync(xds, "DELTA_GRPC");

        // One downstream connection: one worker, one pool, one upstream connection per host.
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(IstioBookinfo.OutboundListenerName), maxConnectionsPerServer: 1);
        for (var i = 0; i < 5; i++)
        {
            using var response = await SendAsync(client, HttpMethod.Get, "/reviews/0");
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
            Assert.Equal("v1a", ProxyAssert.UpstreamLabel(response));
        }

        Assert.Equal(1, _v1a.ConnectionCount);

        // The EDS push adds a second v1 pod (a new ClusterLoadAssignment, so a new cluster state).
        var endpoints = Endpoints(twoV1Pods: true);
        xds.Set(XdsTestServer.EndpointType, "2", endpoints);
        await Polling.UntilAsync(
            async () => (await proxy.AdminGetAsync("/stats")).Body.Contains("xds.eds.version_text: \"2\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20),
            "EDS version 2 applied");

        // Users spread over both pods by the cookie hash (without a cookie, the generated one hashes this connection alike).
        var onV1b = 0;
        for (var i = 0; i < 40; i++)
        {
            using var response = await SendAsync(client, HttpMethod.Get, "/reviews/0", cookie: $"{IstioBookinfo.CookieName}=user{i}");
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy);
            onV1b += ProxyAssert.UpstreamLabel(response) == "v1b" ? 1 : 0;
        }

        output.WriteLine($"after the push: {onV1b}/40 on v1b; connections v1a {_v1a.ConnectionCount}, v1b {_v1b.ConnectionCount}");
        Assert.InRange(onV1b, 1, 39);
        Assert.Equal(1, _v1a.ConnectionCount);
        Assert.Equal(1, _v1b.ConnectionCount);
    }

    [Fact]
    public async Task DotSegments_NormalizedBeforeRouting()
    {
        await using var xds = await XdsTestServer.StartAsync();
        Serve(xds, new IstioBookinfo.Placement(), "1");
        await using var proxy = await StartProxyAsync(xds, "DELTA_GRPC");
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(IstioBookinfo.OutboundListenerName));

        using var response = await SendAsync(client, HttpMethod.Get, "/admin/%2e%2e/reviews/./1");
        var echo = await ProxyAssert.EchoAsync(response, proxy);

        Assert.Equal("/reviews/1", echo.Path);
    }

    /// <summary>
    /// Not a test of speed (no timing is asserted): the time from an RDS push that moves the split to the first response
    /// from the newly weighted subset, printed for the issue's closing note.
    /// </summary>
    [Fact]
    public async Task PushToNewSplitServed_Measured()
    {
        await using var xds = await XdsTestServer.StartAsync();
        Serve(xds, new IstioBookinfo.Placement { ReviewsV1Weight = 100, ReviewsV2Weight = 0, ReviewsV3Weight = 0 }, "1");
        await using var proxy = await StartProxyAsync(xds, "DELTA_GRPC");
        using var client = TestHttp.Http1(await proxy.GetListenerUriAsync(IstioBookinfo.OutboundListenerName));

        var samples = new List<double>();
        for (var push = 0; push < 9; push++)
        {
            // Alternate all-v3 / all-v1 so that the first response from the new subset marks the new split in service.
            var toV3 = push % 2 == 0;
            var target = toV3 ? "v3" : "v1";
            var version = (push + 2).ToString(CultureInfo.InvariantCulture);
            var placement = toV3
                ? new IstioBookinfo.Placement { ReviewsV1Weight = 0, ReviewsV2Weight = 0, ReviewsV3Weight = 100 }
                : new IstioBookinfo.Placement { ReviewsV1Weight = 100, ReviewsV2Weight = 0, ReviewsV3Weight = 0 };
            var pushed = Stopwatch.StartNew();
            xds.Set(XdsTestServer.RouteType, version, IstioBookinfo.Routes(placement));
            var served = false;
            for (var attempt = 0; attempt < 20_000 && pushed.Elapsed < TimeSpan.FromSeconds(20); attempt++)
            {
                using var response = await SendAsync(client, HttpMethod.Get, "/reviews/0");
                if (ProxyAssert.UpstreamLabel(response)!.StartsWith(target, StringComparison.Ordinal))
                {
                    served = true;
                    break;
                }
            }

            Assert.True(served, $"push {version} never served {target}");
            samples.Add(pushed.Elapsed.TotalMilliseconds);
        }

        samples.Sort();
        output.WriteLine($"push -> new split served, ms (sorted): {string.Join(", ", samples.Select(s => s.ToString("F1", CultureInfo.InvariantCulture)))}; median {samples[samples.Count / 2]:F1} ms");
    }

    private long UpstreamRequests() => _v1a.RequestCount + _v1b.RequestCount + _v2.RequestCount + _v3.RequestCount;

    private void Serve(XdsTestServer xds, IstioBookinfo.Placement placement, string version, bool twoV1Pods = true)
    {
        placement = placement with
        {
            WildcardAddress = "127.0.0.1",
            VirtualOutboundPort = 0,
            VirtualInboundPort = 0,
            BindOutboundPortListener = true,
            OutboundPortListenerPort = 0,
        };
        xds.Set(XdsTestServer.ClusterType, version, IstioBookinfo.Clusters());
        xds.Set(XdsTestServer.EndpointType, version, Endpoints(twoV1Pods));
        xds.Set(XdsTestServer.ListenerType, version, IstioBookinfo.Listeners(placement));
        xds.Set(XdsTestServer.RouteType, version, IstioBookinfo.Routes(placement));
    }

    private Google.Protobuf.IMessage[] Endpoints(bool twoV1Pods)
    {
        var endpoints = IstioBookinfo.Endpoints(_v1a.Http1Port, _v2.Http1Port, _v3.Http1Port, _other.Http1Port);
        if (!twoV1Pods)
        {
            return endpoints;
        }

        // Two v1 pods, so that the cookie hash has a choice to make.
        for (var i = 0; i < endpoints.Length; i++)
        {
            var assignment = (SharpProxy.Xds.Api.Config.Endpoint.V3.ClusterLoadAssignment)endpoints[i];
            if (assignment.ClusterName == IstioBookinfo.ClusterName("reviews", "v1"))
            {
                endpoints[i] = IstioBookinfo.Assignment(assignment.ClusterName, ("reviews", "v1", _v1a.Http1Port), ("reviews", "v1", _v1b.Http1Port));
            }
        }

        return endpoints;
    }

    private static async Task<HttpResponseMessage> SendAsync(
        HttpClient client, HttpMethod method, string path, string authority = ReviewsAuthority, string? cookie = null, string? origin = null, string? requestMethod = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Host = authority;
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        if (requestMethod is not null)
        {
            request.Headers.Add("Access-Control-Request-Method", requestMethod);
        }

        return await client.SendAsync(request);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    private static async Task<ProxyProcess> StartProxyAsync(XdsTestServer xds, string apiType)
    {
        var config = ConfigWriter.WriteText($$"""
            node:
              id: "sidecar~10.244.1.15~productpage-v1-6b746f74dc-9rlmh.default~default.svc.cluster.local"
              cluster: productpage.default
            admin:
              address:
                socket_address: { address: 127.0.0.1, port_value: 0 }
            dynamic_resources:
              ads_config:
                api_type: {{apiType}}
                transport_api_version: V3
                grpc_services: [ { envoy_grpc: { cluster_name: xds-grpc } } ]
              cds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 15s }
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
                    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{xds.Port}} } } }
            """);
        try
        {
            return await ProxyProcess.StartAsync(config.Path, ["--concurrency", "2"]);
        }
        finally
        {
            config.Dispose();
        }
    }
}
