using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Sticky canary: <c>weighted_clusters.use_hash_policy</c> picks v1 or v2 from the route's hash, so a user keeps one
/// version; moving weight to v2 moves users only towards v2; a cookie generated for a first request decides that request too.
/// </summary>
public sealed class StickyCanaryTests(StickyCanaryProxyFixture fixture, ITestOutputHelper output) : IClassFixture<StickyCanaryProxyFixture>, IDisposable
{
    private const int Users = 1000;

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
    public async Task ThousandUsers_EachStaysOnOneVersion_SplitFollowsWeights_MovingWeightOnlyMovesUsersToV2()
    {
        using var client = Bed.CreateHttp1Client();
        var onV2At10 = 0;
        var onV2At20 = 0;
        for (var user = 0; user < Users; user++)
        {
            var name = "user-" + user;
            var first = await LabelAsync(client, "/w10/a", name);
            var second = await LabelAsync(client, "/w10/b", name);
            Assert.True(first == second, $"{name} moved from {first} to {second} with unchanged weights");

            var afterMove = await LabelAsync(client, "/w20/a", name);
            if (first == "v2")
            {
                onV2At10++;
                Assert.True(afterMove == "v2", $"{name} went back from v2 to {afterMove} when v2's weight grew");
            }

            if (afterMove == "v2")
            {
                onV2At20++;
            }
        }

        output.WriteLine($"v2 share: {onV2At10}/{Users} at weight 10, {onV2At20}/{Users} at weight 20");

        // Binomial(1000, 0.1): sd 9.5, so 60..140 is more than 4 sd either side; likewise 150..250 for 0.2 (sd 12.6).
        Assert.InRange(onV2At10, 60, 140);
        Assert.InRange(onV2At20, 150, 250);
    }

    [Fact]
    public async Task GeneratedCookie_FirstRequestAgreesWithFollowUps()
    {
        var versions = new HashSet<string>();
        for (var user = 0; user < 100; user++)
        {
            // A new client is a new connection, so each user gets its own generated cookie, as with real browsers.
            using var client = Bed.CreateHttp1Client();
            string cookie;
            string firstVersion;
            using (var response = await client.GetAsync("/cookie/first"))
            {
                await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
                var setCookie = Assert.Single(response.Headers.GetValues("set-cookie"));
                cookie = setCookie.Split(';')[0];
                firstVersion = ProxyAssert.UpstreamLabel(response)!;
            }

            versions.Add(firstVersion);
            for (var i = 0; i < 3; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/cookie/" + i);
                request.Headers.Add("cookie", cookie);
                using var response = await client.SendAsync(request);
                await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
                Assert.False(response.Headers.Contains("set-cookie"));
                Assert.Equal(firstVersion, ProxyAssert.UpstreamLabel(response));
            }
        }

        // 100 users at 50/50: all on one version has probability 2^-99.
        Assert.Equal(2, versions.Count);
    }

    private async Task<string> LabelAsync(HttpClient client, string path, string user)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("x-user", user);
        using var response = await client.SendAsync(request);
        await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
        return ProxyAssert.UpstreamLabel(response) ?? "none";
    }
}

public sealed class StickyCanaryProxyFixture : ProxyFixture
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
                  route_config:
                    name: sticky
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: { prefix: /w10/ }
                        route:
                          hash_policy: [ { header: { header_name: x-user } } ]
                          weighted_clusters:
                            use_hash_policy: true
                            clusters: [ { name: v1, weight: 90 }, { name: v2, weight: 10 } ]
                      - match: { prefix: /w20/ }
                        route:
                          hash_policy: [ { header: { header_name: x-user } } ]
                          weighted_clusters:
                            use_hash_policy: true
                            clusters: [ { name: v1, weight: 80 }, { name: v2, weight: 20 } ]
                      - match: { prefix: /cookie/ }
                        route:
                          hash_policy: [ { cookie: { name: canary, ttl: 3600s, path: / } } ]
                          weighted_clusters:
                            use_hash_policy: true
                            clusters: [ { name: v1, weight: 50 }, { name: v2, weight: 50 } ]
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: v1
            connect_timeout: 1s
            type: STATIC
            load_assignment:
              cluster_name: v1
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{V1_PORT}} } } }
          - name: v2
            connect_timeout: 1s
            type: STATIC
            load_assignment:
              cluster_name: v2
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{V2_PORT}} } } }
        """;

    protected override string[] Labels => ["v1", "v2"];

    protected override IEnumerable<string> ExtraArguments => ["--concurrency", "2"];

    protected override TempConfigFile WriteConfig(IReadOnlyList<EchoUpstream> upstreams) =>
        ConfigWriter.Write(Template, ("V1_PORT", upstreams[0].Http1Port), ("V2_PORT", upstreams[1].Http1Port));
}
