using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Three echo upstreams behind a RING_HASH cluster (header and cookie hash policies) and a MAGLEV cluster (source_ip):
/// the same key lands on the same upstream every time.
/// </summary>
public sealed class ConsistentHashTests(ConsistentHashProxyFixture fixture, ITestOutputHelper output) : IClassFixture<ConsistentHashProxyFixture>, IDisposable
{
    private ProxyTestBed Bed => fixture.Bed;

    public void Dispose()
    {
        try
        {
            output.WriteLine(fixture.Bed.Proxy.Describe(8 * 1024));
        }
        catch (InvalidOperationException)
        {
        }
    }

    [Fact]
    public async Task Clusters_ShowRingAndTableSizes()
    {
        var (status, clusters) = await Bed.Proxy.AdminGetAsync("/clusters");
        Assert.Equal(HttpStatusCode.OK, status);
        var lines = clusters.Split('\n');
        var ring = Array.Find(lines, l => l.StartsWith("ring::priority_0::ring_size::", StringComparison.Ordinal));
        Assert.NotNull(ring);
        Assert.InRange(int.Parse(ring["ring::priority_0::ring_size::".Length..], System.Globalization.CultureInfo.InvariantCulture), 1024, 8_388_608);
        Assert.Contains("maglev::priority_0::table_size::65537", lines);
        Assert.Contains("ring::default_priority::max_requests::1024", lines);
        Assert.Contains(lines, l => l.StartsWith("ring::127.0.0.1:", StringComparison.Ordinal) && l.EndsWith("::weight::1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RingHash_SameHeaderValue_300RequestsOneUpstream_DifferentValuesSpread()
    {
        using var client = Bed.CreateHttp1Client();
        var labels = new HashSet<string?>();
        for (var i = 0; i < 300; i++)
        {
            using var request = client.CreateRequest(HttpMethod.Get, "/header/" + i);
            request.Headers.Add("x-user", "alice");
            using var response = await client.SendAsync(request);
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
            labels.Add(ProxyAssert.UpstreamLabel(response));
        }

        Assert.Single(labels);

        var spread = new HashSet<string?>();
        for (var i = 0; i < 60; i++)
        {
            using var request = client.CreateRequest(HttpMethod.Get, "/header/x");
            request.Headers.Add("x-user", "user-" + i);
            using var response = await client.SendAsync(request);
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
            spread.Add(ProxyAssert.UpstreamLabel(response));
        }

        // 60 keys over 3 equal hosts: missing a host has probability about 3 * (2/3)^60, i.e. 1e-10.
        Assert.Equal(3, spread.Count);
    }

    [Fact]
    public async Task RingHash_CookieWithTtl_FirstResponseSetsCookie_FollowUpsStick()
    {
        using var client = Bed.CreateHttp1Client();
        string cookie;
        string? first;
        using (var request = client.CreateRequest(HttpMethod.Get, "/cookie/first"))
        using (var response = await client.SendAsync(request))
        {
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
            var setCookie = Assert.Single(response.Headers.GetValues("set-cookie"));
            output.WriteLine("Set-Cookie: " + setCookie);
            Assert.Matches("^sticky=\"[0-9a-f]{16}\"; Max-Age=60; Path=/; HttpOnly$", setCookie);
            cookie = setCookie.Split(';')[0];
            first = ProxyAssert.UpstreamLabel(response);
        }

        for (var i = 0; i < 100; i++)
        {
            using var request = client.CreateRequest(HttpMethod.Get, "/cookie/" + i);
            request.Headers.Add("cookie", cookie);
            using var response = await client.SendAsync(request);
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
            Assert.False(response.Headers.Contains("set-cookie"));
            Assert.Equal(first, ProxyAssert.UpstreamLabel(response));
        }
    }

    [Fact]
    public async Task Maglev_SourceIp_AllRequestsFromLoopbackOneUpstream()
    {
        var labels = new HashSet<string?>();
        for (var c = 0; c < 3; c++)
        {
            // New clients, new connections and source ports: the hash covers the IP only.
            using var client = Bed.CreateHttp1Client();
            for (var i = 0; i < 100; i++)
            {
                using var request = client.CreateRequest(HttpMethod.Get, "/maglev/" + i);
                using var response = await client.SendAsync(request);
                await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
                labels.Add(ProxyAssert.UpstreamLabel(response));
            }
        }

        Assert.Single(labels);
    }
}

/// <summary>Listener <c>main</c>: <c>/header</c> and <c>/cookie</c> on a RING_HASH cluster, <c>/maglev</c> on a MAGLEV cluster; 3 upstreams each.</summary>
public sealed class ConsistentHashProxyFixture : ProxyFixture
{
    private const string Template = """
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
                  codec_type: AUTO
                  route_config:
                    name: hash_route
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: { prefix: /header }
                        route:
                          cluster: ring
                          hash_policy: [ { header: { header_name: x-user } } ]
                      - match: { prefix: /cookie }
                        route:
                          cluster: ring
                          hash_policy: [ { cookie: { name: sticky, ttl: 60s, path: / } } ]
                      - match: { prefix: /maglev }
                        route:
                          cluster: maglev
                          hash_policy: [ { connection_properties: { source_ip: true } } ]
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: ring
            connect_timeout: 1s
            type: STATIC
            lb_policy: RING_HASH
            ring_hash_lb_config: { minimum_ring_size: 1024 }
            load_assignment:
              cluster_name: ring
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{A_PORT}} } } }
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{B_PORT}} } } }
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{C_PORT}} } } }
          - name: maglev
            connect_timeout: 1s
            type: STATIC
            lb_policy: MAGLEV
            load_assignment:
              cluster_name: maglev
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{A_PORT}} } } }
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{B_PORT}} } } }
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{C_PORT}} } } }
        """;

    protected override string[] Labels => ["a", "b", "c"];

    protected override IEnumerable<string> ExtraArguments => ["--concurrency", "2"];

    protected override TempConfigFile WriteConfig(IReadOnlyList<EchoUpstream> upstreams) =>
        ConfigWriter.Write(Template, ("A_PORT", upstreams[0].Http1Port), ("B_PORT", upstreams[1].Http1Port), ("C_PORT", upstreams[2].Http1Port));
}
