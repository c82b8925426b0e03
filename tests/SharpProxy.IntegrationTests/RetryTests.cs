using System.Net;
using System.Security.Cryptography;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Route retry_policy against real upstreams: an upstream path that fails a known number of times (<c>/flaky/N/key</c>),
/// a closed port for connect failures, and a slow path for per-try timeouts.
/// </summary>
public sealed class RetryTests(RetryProxyFixture fixture, ITestOutputHelper output) : IClassFixture<RetryProxyFixture>, IDisposable
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
    public async Task FiveXx_RetriedUntilTheUpstreamSucceeds()
    {
        using var client = Bed.CreateHttp1Client();
        var path = "/flaky/2/" + Guid.NewGuid().ToString("N");
        using var response = await client.GetAsync("/r5xx" + path);

        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);
        Assert.Equal(path, echo.Path);
        Assert.Equal(3, Bed.V1.FlakyCount(path));
    }

    [Fact]
    public async Task FiveXx_RetriesExhausted_LastUpstreamAnswerIsForwarded()
    {
        using var client = Bed.CreateHttp1Client();
        var path = "/flaky/9/" + Guid.NewGuid().ToString("N");
        using var response = await client.GetAsync("/r5xx" + path);

        await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, Bed.Proxy);
        Assert.Equal("v1", ProxyAssert.UpstreamLabel(response));

        // One try and num_retries: 2.
        Assert.Equal(3, Bed.V1.FlakyCount(path));
    }

    [Fact]
    public async Task WithoutRetryPolicy_OneTryOnly()
    {
        using var client = Bed.CreateHttp1Client();
        var path = "/flaky/1/" + Guid.NewGuid().ToString("N");
        using var response = await client.GetAsync(path);

        await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, Bed.Proxy);
        Assert.Equal(1, Bed.V1.FlakyCount(path));
    }

    [Fact]
    public async Task RetriableStatusCodes_OnlyListedCodesRetried()
    {
        using var client = Bed.CreateHttp1Client();
        var flaky = "/flaky/1/" + Guid.NewGuid().ToString("N");
        using (var response = await client.GetAsync("/codes" + flaky))
        {
            await ProxyAssert.EchoAsync(response, Bed.Proxy);
            Assert.Equal(2, Bed.V1.FlakyCount(flaky));
        }

        // 500 is not in retriable_status_codes [503]: answered as is, after one try.
        using var notListed = await client.GetAsync("/codes/status/500");
        await ProxyAssert.StatusAsync(HttpStatusCode.InternalServerError, notListed, Bed.Proxy);
    }

    [Fact]
    public async Task RequestBody_ResentIntactOnRetry()
    {
        using var client = Bed.CreateHttp1Client();
        var body = new byte[300 * 1024];
        TestPattern.Fill(body, 7);
        var path = "/flaky/1/" + Guid.NewGuid().ToString("N");
        using var content = new ByteArrayContent(body);
        using var response = await client.PostAsync("/r5xx" + path, content);

        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);
        Assert.Equal(2, Bed.V1.FlakyCount(path));
        Assert.Equal(body.Length, echo.BodyLength);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(body)), echo.BodySha256);
    }

    [Fact]
    public async Task RequestBody_BeyondTheBufferLimit_NotRetried()
    {
        using var client = Bed.CreateHttp1Client();
        var body = new byte[(1024 * 1024) + (256 * 1024)];
        TestPattern.Fill(body, 0);
        var path = "/flaky/1/" + Guid.NewGuid().ToString("N");
        using var content = new ByteArrayContent(body);
        using var response = await client.PostAsync("/r5xx" + path, content);

        // Envoy gives up retrying once the body outgrows the 1 MiB buffer: the first answer stands.
        await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, Bed.Proxy);
        Assert.Equal(1, Bed.V1.FlakyCount(path));
    }

    [Fact]
    public async Task ConnectFailure_RoundRobin_RetryReachesTheLiveHost()
    {
        using var client = Bed.CreateHttp1Client();
        for (var i = 0; i < 20; i++)
        {
            using var response = await client.GetAsync("/rr/" + i);
            await ProxyAssert.EchoAsync(response, Bed.Proxy);
        }
    }

    [Fact]
    public async Task ConnectFailure_RingHash_PreviousHostsPredicateMovesToTheNextHost()
    {
        using var client = Bed.CreateHttp1Client();
        var deadUsers = 0;
        for (var i = 0; i < 24; i++)
        {
            var user = "user-" + i;

            // Without the predicate, ring hash asks for the same host again (Envoy's behaviour): the retry fails too.
            using var plain = new HttpRequestMessage(HttpMethod.Get, "/ring-plain/" + i);
            plain.Headers.Add("x-user", user);
            using var plainResponse = await client.SendAsync(plain);
            if (plainResponse.StatusCode == HttpStatusCode.OK)
            {
                continue;
            }

            deadUsers++;
            await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, plainResponse, Bed.Proxy);
            Assert.Equal("UF,URX", ProxyAssert.Flags(plainResponse));

            using var avoiding = new HttpRequestMessage(HttpMethod.Get, "/ring-avoid/" + i);
            avoiding.Headers.Add("x-user", user);
            using var avoidingResponse = await client.SendAsync(avoiding);
            await ProxyAssert.EchoAsync(avoidingResponse, Bed.Proxy);
        }

        // 24 users over two equal hosts: none on the dead one has probability 2^-24.
        Assert.NotEqual(0, deadUsers);
    }

    [Fact]
    public async Task PerTryTimeout_EachTryTimesOut_504WithRetryLimitFlag()
    {
        // A cold upstream could take longer than the 0.3 s per-try timeout, so a try could time out before the
        // upstream counted it.
        await Bed.V1.WarmUpAsync();

        using var client = Bed.CreateHttp1Client();
        var before = Bed.V1.RequestCount;
        using var response = await client.GetAsync("/slow/delay/5000");

        await ProxyAssert.StatusAsync(HttpStatusCode.GatewayTimeout, response, Bed.Proxy);
        Assert.Equal("UT,URX", ProxyAssert.Flags(response));
        Assert.True(Bed.V1.RequestCount - before >= 2, $"expected two tries, upstream saw {Bed.V1.RequestCount - before}");
    }

    [Fact]
    public async Task MaxRetriesCircuitBreaker_RefusesTheRetry_FlagUO()
    {
        using var client = Bed.CreateHttp1Client();
        var path = "/flaky/1/" + Guid.NewGuid().ToString("N");
        using (var response = await client.GetAsync("/nobudget" + path))
        {
            // max_retries: 0 leaves no retry budget: the upstream's 503 stands after one try.
            await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, Bed.Proxy);
            Assert.Equal(1, Bed.V1.FlakyCount(path));
        }

        using var failed = await client.GetAsync("/nobudget-dead/x");
        await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, failed, Bed.Proxy);
        Assert.Equal("UF,UO", ProxyAssert.Flags(failed));
    }

    [Fact]
    public async Task Stats_CountRetries()
    {
        using var client = Bed.CreateHttp1Client();
        using (var response = await client.GetAsync("/r5xx/flaky/1/" + Guid.NewGuid().ToString("N")))
        {
            await ProxyAssert.EchoAsync(response, Bed.Proxy);
        }

        var (status, stats) = await Bed.Proxy.AdminGetAsync("/stats");
        Assert.Equal(HttpStatusCode.OK, status);
        var line = Array.Find(stats.Split('\n'), l => l.StartsWith("cluster.flaky.upstream_rq_retry: ", StringComparison.Ordinal));
        Assert.NotNull(line);
        Assert.True(long.Parse(line["cluster.flaky.upstream_rq_retry: ".Length..], System.Globalization.CultureInfo.InvariantCulture) >= 1, line);
    }
}

public sealed class RetryProxyFixture : ProxyFixture
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
                    name: retries
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: { prefix: /r5xx/ }
                        route:
                          cluster: flaky
                          prefix_rewrite: /
                          retry_policy: { retry_on: 5xx, num_retries: 2, retry_back_off: { base_interval: 0.005s } }
                      - match: { prefix: /codes/ }
                        route:
                          cluster: flaky
                          prefix_rewrite: /
                          retry_policy: { retry_on: retriable-status-codes, retriable_status_codes: [503], num_retries: 3 }
                      - match: { prefix: /rr/ }
                        route:
                          cluster: rr_with_dead
                          retry_policy: { retry_on: connect-failure, num_retries: 1 }
                      - match: { prefix: /ring-plain/ }
                        route:
                          cluster: ring_with_dead
                          hash_policy: [ { header: { header_name: x-user } } ]
                          retry_policy: { retry_on: "connect-failure,refused-stream", num_retries: 1 }
                      - match: { prefix: /ring-avoid/ }
                        route:
                          cluster: ring_with_dead
                          hash_policy: [ { header: { header_name: x-user } } ]
                          retry_policy:
                            retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
                            retriable_status_codes: [503]
                            num_retries: 2
                            # Consecutive ring points often belong to one host: with two hosts, six reselections all landing on
                            # the dead one has probability 2^-6 per user, which made this test flaky; 2^-30 is not.
                            host_selection_retry_max_attempts: 30
                            retry_host_predicate:
                            - name: envoy.retry_host_predicates.previous_hosts
                              typed_config:
                                "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
                      - match: { prefix: /slow/ }
                        route:
                          cluster: flaky
                          prefix_rewrite: /
                          timeout: 20s
                          retry_policy: { retry_on: "gateway-error", num_retries: 1, per_try_timeout: 0.3s }
                      - match: { prefix: /nobudget/ }
                        route:
                          cluster: flaky_nobudget
                          prefix_rewrite: /
                          retry_policy: { retry_on: 5xx, num_retries: 2 }
                      - match: { prefix: /nobudget-dead/ }
                        route:
                          cluster: dead_nobudget
                          retry_policy: { retry_on: connect-failure, num_retries: 2 }
                      - match: { prefix: / }
                        route: { cluster: flaky }
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: flaky
            connect_timeout: 1s
            type: STATIC
            load_assignment:
              cluster_name: flaky
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{V1_PORT}} } } }
          - name: flaky_nobudget
            connect_timeout: 1s
            type: STATIC
            circuit_breakers: { thresholds: [ { max_retries: 0 } ] }
            load_assignment:
              cluster_name: flaky_nobudget
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{V1_PORT}} } } }
          - name: dead_nobudget
            connect_timeout: 1s
            type: STATIC
            circuit_breakers: { thresholds: [ { max_retries: 0 } ] }
            load_assignment:
              cluster_name: dead_nobudget
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{DEAD_PORT}} } } }
          - name: rr_with_dead
            connect_timeout: 1s
            type: STATIC
            load_assignment:
              cluster_name: rr_with_dead
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{DEAD_PORT}} } } }
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{V1_PORT}} } } }
          - name: ring_with_dead
            connect_timeout: 1s
            type: STATIC
            lb_policy: RING_HASH
            load_assignment:
              cluster_name: ring_with_dead
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{DEAD_PORT}} } } }
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{V1_PORT}} } } }
        """;

    private int _deadPort;

    protected override string[] Labels => ["v1"];

    protected override IEnumerable<string> ExtraArguments => ["--concurrency", "2"];

    protected override async Task PrepareAsync() => _deadPort = await TcpProbe.GetClosedPortAsync();

    protected override TempConfigFile WriteConfig(IReadOnlyList<EchoUpstream> upstreams) =>
        ConfigWriter.Write(Template, ("V1_PORT", upstreams[0].Http1Port), ("DEAD_PORT", _deadPort));
}
