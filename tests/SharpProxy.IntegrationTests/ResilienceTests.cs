using System.Diagnostics;
using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Outlier detection and circuit breakers end to end: real echo upstreams, the real proxy process.
/// Each test starts its own proxy, since ejections and breaker counters are state the tests change.
/// </summary>
public sealed class ResilienceTests(ITestOutputHelper output)
{
    private const string Head = """
        admin:
          address:
            socket_address: { address: 127.0.0.1, port_value: 0 }
        static_resources:
          listeners:
          - name: main
            address:
              socket_address: { address: 127.0.0.1, port_value: 0 }
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress_http
                  route_config:
                    name: all
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: { prefix: / }
                        route: { cluster: svc, timeout: 20s }
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: svc
            connect_timeout: 1s
            type: STATIC
            lb_policy: ROUND_ROBIN

        """;

    private const string OutlierTemplate = Head + """
            outlier_detection: { consecutive_5xx: 3, interval: 0.2s, base_ejection_time: 1s, max_ejection_percent: 50 }
            load_assignment:
              cluster_name: svc
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{A_PORT}} } } }
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{B_PORT}} } } }
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{C_PORT}} } } }
        """;

    private const string FailoverTemplate = Head + """
            outlier_detection: { consecutive_5xx: 3, interval: 0.2s, base_ejection_time: 1s, max_ejection_percent: 50 }
            load_assignment:
              cluster_name: svc
              endpoints:
              - priority: 0
                lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{A_PORT}} } } }
              - priority: 1
                lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{B_PORT}} } } }
        """;

    private const string MaxRequestsTemplate = Head + """
            circuit_breakers: { thresholds: [ { max_requests: 2 } ] }
            load_assignment:
              cluster_name: svc
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{A_PORT}} } } }
        """;

    private const string MaxConnectionsTemplate = Head + """
            circuit_breakers: { thresholds: [ { max_connections: 1, max_pending_requests: 1 } ] }
            load_assignment:
              cluster_name: svc
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{A_PORT}} } } }
        """;

    [Fact]
    public async Task OutlierDetection_UpstreamReturning500_EjectedThenBackAfterEjectionTime()
    {
        await using var bed = await ProxyTestBed.StartAsync(
            ["a", "b", "c"],
            u => ConfigWriter.Write(OutlierTemplate, ("A_PORT", u[0].Http1Port), ("B_PORT", u[1].Http1Port), ("C_PORT", u[2].Http1Port)),
            ["--concurrency", "2"]);
        using var client = bed.CreateHttp1Client();
        var bad = bed.Upstreams[2];
        bad.ForcedStatus = 500;

        // Round robin sends every third request to "c", which answers 500: three in a row eject it, and then a whole
        // batch is answered by "a" and "b" only.
        var clock = Stopwatch.StartNew();
        var failuresSeen = 0;
        await Polling.UntilAsync(
            async () =>
            {
                var fromBad = 0;
                for (var i = 0; i < 30; i++)
                {
                    using var response = await client.GetAsync("/batch/" + i);
                    if (ProxyAssert.UpstreamLabel(response) == "c")
                    {
                        fromBad++;
                        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
                    }
                }

                failuresSeen += fromBad;
                return fromBad == 0;
            },
            TimeSpan.FromSeconds(20),
            "upstream c ejected");
        output.WriteLine($"ejected after {clock.ElapsedMilliseconds} ms, {failuresSeen} responses of 500 seen");
        Assert.True(failuresSeen >= 3, $"only {failuresSeen} failures before the ejection");

        for (var i = 0; i < 60; i++)
        {
            using var response = await client.GetAsync("/ejected/" + i);
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy);
            Assert.NotEqual("c", ProxyAssert.UpstreamLabel(response));
        }

        // "c" recovers; after base_ejection_time (1 s, checked every 0.2 s) it is balanced to again.
        bad.ForcedStatus = 0;
        clock.Restart();
        await Polling.UntilAsync(
            async () =>
            {
                using var response = await client.GetAsync("/back");
                await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy);
                return ProxyAssert.UpstreamLabel(response) == "c";
            },
            TimeSpan.FromSeconds(20),
            "upstream c unejected",
            TimeSpan.FromMilliseconds(50));
        output.WriteLine($"back in service after {clock.ElapsedMilliseconds} ms");

        // /clusters keeps the ejection count and shows the host healthy again.
        var (_, clusters) = await bed.Proxy.AdminGetAsync("/clusters");
        var hostPrefix = "::127.0.0.1:" + bad.Http1Port + "::";
        var lines = clusters.Split('\n');
        Assert.Contains(lines, l => l.Contains(hostPrefix + "num_ejections::", StringComparison.Ordinal) && !l.EndsWith("::0", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(hostPrefix + "health_flags::healthy", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Priorities_P0HostEjected_AllTrafficFailsOverToP1_AndReturns()
    {
        await using var bed = await ProxyTestBed.StartAsync(
            ["a", "b"],
            u => ConfigWriter.Write(FailoverTemplate, ("A_PORT", u[0].Http1Port), ("B_PORT", u[1].Http1Port)),
            ["--concurrency", "2"]);
        using var client = bed.CreateHttp1Client();

        // P0 healthy: all of the load stays on P0.
        Assert.Equal(["a"], await LabelsOfAsync(client, bed, 20));

        // P0's only host fails and is ejected: P0 health 0 %, P1 100 %, so P1 takes all the load (no panic, since
        // P1 alone can take it).
        bed.V1.ForcedStatus = 503;
        await Polling.UntilAsync(
            async () => (await LabelsOfAsync(client, bed, 10, allowErrors: true)).SequenceEqual(["b"]),
            TimeSpan.FromSeconds(20),
            "all traffic on P1");
        Assert.Equal(["b"], await LabelsOfAsync(client, bed, 20));

        // P0 recovers and is unejected after base_ejection_time: the load moves back.
        bed.V1.ForcedStatus = 0;
        await Polling.UntilAsync(
            async () => (await LabelsOfAsync(client, bed, 1)).SequenceEqual(["a"]),
            TimeSpan.FromSeconds(20),
            "traffic back on P0",
            TimeSpan.FromMilliseconds(50));
        Assert.Equal(["a"], await LabelsOfAsync(client, bed, 20));
    }

    [Fact]
    public async Task CircuitBreaker_MaxRequests2_ThirdConcurrentRequestGets503UO()
    {
        await using var bed = await ProxyTestBed.StartAsync(["a"], u => ConfigWriter.Write(MaxRequestsTemplate, ("A_PORT", u[0].Http1Port)));
        using var client = bed.CreateHttp1Client();
        var held = new[] { client.GetAsync("/delay/3000"), client.GetAsync("/delay/3000") };
        await Polling.UntilAsync(() => bed.V1.InFlightCount == 2, TimeSpan.FromSeconds(10), "two requests held by the upstream");

        using (var overflow = await client.GetAsync("/third"))
        {
            var body = await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, overflow, bed.Proxy);
            Assert.Equal("UO", ProxyAssert.Flags(overflow));
            Assert.Equal("upstream connect error or disconnect/reset before headers. reset reason: overflow", body.Trim());
        }

        Assert.Equal(2, bed.V1.InFlightCount);
        foreach (var request in held)
        {
            using var response = await request;
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy);
        }

        // The slots are released when the requests end.
        using var after = await client.GetAsync("/after");
        await ProxyAssert.StatusAsync(HttpStatusCode.OK, after, bed.Proxy);
    }

    [Fact]
    public async Task CircuitBreaker_MaxConnections1_RequestsShareOneConnection_PendingOverflowGets503UO()
    {
        // One worker: its pool holds the cluster's only connection. A second request waits for it (pending), a third
        // would be a second pending request: max_pending_requests 1 refuses one of the two waiting ones.
        await using var bed = await ProxyTestBed.StartAsync(["a"], u => ConfigWriter.Write(MaxConnectionsTemplate, ("A_PORT", u[0].Http1Port)), ["--concurrency", "1"]);
        using var client = bed.CreateHttp1Client();
        var first = client.GetAsync("/delay/2000");
        await Polling.UntilAsync(() => bed.V1.InFlightCount == 1, TimeSpan.FromSeconds(10), "first request held by the upstream");
        var waiting = new[] { client.GetAsync("/delay/10"), client.GetAsync("/delay/10") };

        var statuses = new List<(HttpStatusCode Status, string? Flags)>();
        foreach (var request in waiting.Prepend(first))
        {
            using var response = await request;
            statuses.Add((response.StatusCode, ProxyAssert.Flags(response)));
        }

        output.WriteLine(string.Join(", ", statuses));
        Assert.Equal(2, statuses.Count(s => s.Status == HttpStatusCode.OK));
        Assert.Single(statuses, s => s.Status == HttpStatusCode.ServiceUnavailable && s.Flags == "UO");
        Assert.Equal(1, bed.V1.ConnectionCount);
    }

    /// <summary>Distinct upstream labels of <paramref name="count"/> sequential requests (sorted).</summary>
    private static async Task<string[]> LabelsOfAsync(HttpClient client, ProxyTestBed bed, int count, bool allowErrors = false)
    {
        var labels = new SortedSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            using var response = await client.GetAsync("/labels/" + i);
            if (!allowErrors)
            {
                await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy);
            }

            labels.Add(ProxyAssert.UpstreamLabel(response) ?? "(none)");
        }

        return [.. labels];
    }
}
