using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>envoy.filters.http.fault as Istio configures it: per-route typed_per_filter_config with abort and delay.</summary>
public sealed class FaultInjectionTests(FaultProxyFixture fixture, ITestOutputHelper output) : IClassFixture<FaultProxyFixture>, IDisposable
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
    public async Task Abort_HttpStatus_AnsweredByTheProxy_UpstreamNeverSeesIt()
    {
        using var client = Bed.CreateHttp1Client();
        var before = Bed.V1.RequestCount;
        using var response = await client.GetAsync("/abort");

        var body = await ProxyAssert.StatusAsync((HttpStatusCode)418, response, Bed.Proxy);
        Assert.Equal("fault filter abort", body);
        Assert.Equal("FI", ProxyAssert.Flags(response));
        Assert.Equal(before, Bed.V1.RequestCount);
    }

    [Fact]
    public async Task Abort_GrpcStatus_TrailersOnlyReply()
    {
        using var client = Bed.CreateH2cClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/grpc-abort/test.Echo/Unary") { Content = new ByteArrayContent([0, 0, 0, 0, 0]) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("14", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal("FI", ProxyAssert.Flags(response));
    }

    [Fact]
    public async Task Delay_RequestStillServed_DelayCounted()
    {
        using var client = Bed.CreateHttp1Client();
        using (var response = await client.GetAsync("/delay"))
        {
            await ProxyAssert.EchoAsync(response, Bed.Proxy);
        }

        var (_, stats) = await Bed.Proxy.AdminGetAsync("/stats");
        var line = stats.Split('\n').Single(l => l.StartsWith("http.fault.delays_injected: ", StringComparison.Ordinal));
        Assert.True(long.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) >= 1, line);
    }

    [Fact]
    public async Task Abort_Percentage_AbortsThatShare()
    {
        using var client = Bed.CreateHttp1Client();
        var aborted = 0;
        const int Requests = 400;
        for (var i = 0; i < Requests; i++)
        {
            using var response = await client.GetAsync("/quarter");
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable && ProxyAssert.Flags(response) == "FI")
            {
                aborted++;
            }
            else
            {
                await ProxyAssert.EchoAsync(response, Bed.Proxy);
            }
        }

        output.WriteLine($"aborted {aborted}/{Requests} at 25%");

        // Binomial(400, 0.25): sd 8.7; 50..150 is more than 5 sd either side.
        Assert.InRange(aborted, 50, 150);
    }

    [Fact]
    public async Task RouteWithoutPerRouteConfig_UsesTheFiltersOwnEmptyConfig_NoFault()
    {
        using var client = Bed.CreateHttp1Client();
        for (var i = 0; i < 20; i++)
        {
            using var response = await client.GetAsync("/plain");
            await ProxyAssert.EchoAsync(response, Bed.Proxy);
        }
    }
}

public sealed class FaultProxyFixture : ProxyFixture
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
                    name: faults
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: { prefix: /abort }
                        route: { cluster: v1 }
                        typed_per_filter_config:
                          envoy.filters.http.fault:
                            "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
                            abort: { http_status: 418, percentage: { numerator: 100 } }
                      - match: { prefix: /grpc-abort }
                        route: { cluster: v1 }
                        typed_per_filter_config:
                          envoy.filters.http.fault:
                            "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
                            abort: { grpc_status: 14, percentage: { numerator: 1000000, denominator: MILLION } }
                      - match: { prefix: /delay }
                        route: { cluster: v1 }
                        typed_per_filter_config:
                          envoy.filters.http.fault:
                            "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
                            delay: { fixed_delay: 0.05s, percentage: { numerator: 100 } }
                      - match: { prefix: /quarter }
                        route: { cluster: v1 }
                        typed_per_filter_config:
                          envoy.filters.http.fault:
                            "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
                            abort: { http_status: 503, percentage: { numerator: 2500, denominator: TEN_THOUSAND } }
                      - match: { prefix: / }
                        route: { cluster: v1 }
                  http_filters:
                  - name: envoy.filters.http.fault
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
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
        """;

    protected override string[] Labels => ["v1"];

    protected override TempConfigFile WriteConfig(IReadOnlyList<EchoUpstream> upstreams) =>
        ConfigWriter.Write(Template, ("V1_PORT", upstreams[0].Http1Port));
}
