using System.Globalization;
using System.Net;
using System.Net.Security;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// HTTPS and HTTP/2 over TLS (ALPN) to a listener whose routes lead to an HTTP/1.1 cluster: terminated and served on the
/// event loop (SharpProxy.IntegrationTests) or by Kestrel's TLS endpoint (SharpProxy.IntegrationTests.KestrelPath);
/// each assembly asserts its path, the answers are the same.
/// </summary>
public sealed class HttpsPathTests(ITestOutputHelper output)
{
    private const string ServerName = "h2.example.com";

    private static bool FastPathExpected => PathUnderTest.FastPath;

    [Fact]
    public async Task Https_Http2AndHttp1ByAlpn_ServedWithHttpsScheme_OnTheConfiguredPath()
    {
        using var pki = new TestCertificates();
        var server = pki.Issue("h2-server", dnsNames: [ServerName]);
        await using var upstream = await EchoUpstream.StartAsync("v1");
        using var config = ConfigWriter.WriteText(Config(server, upstream.Http1Port));
        await using var proxy = await ProxyProcess.StartAsync(config.Path);
        var port = await proxy.GetListenerPortAsync("https");

        foreach (var version in new[] { HttpVersion.Version20, HttpVersion.Version11 })
        {
            using var client = Client(port, pki, version);
            for (var i = 0; i < 3; i++)
            {
                using var response = await client.GetAsync($"https://{ServerName}:{port}/tls/{i}?v={version}");
                var echo = EchoResponse.Parse(await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, proxy));
                Assert.Equal(version, response.Version);
                Assert.StartsWith("/tls/" + i.ToString(CultureInfo.InvariantCulture), echo.Path, StringComparison.Ordinal);
                Assert.Equal("https", echo.Header("x-forwarded-proto"));
            }

            // A request body over TLS, each protocol.
            using var content = new PatternContent(200_003);
            using var posted = await client.PostAsync($"https://{ServerName}:{port}/echo", content);
            Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
            await using var body = await posted.Content.ReadAsStreamAsync();
            Assert.Equal(200_003, await PatternReader.ReadAndVerifyAsync(body, CancellationToken.None));
        }

        var (_, stats) = await proxy.AdminGetAsync("/stats");
        var tls = StatsText.Value(stats, "http1_fast_path.tls_connections");
        var h2 = StatsText.Value(stats, "http2_fast_path.rq_total");
        output.WriteLine($"fast path expected: {FastPathExpected}; tls_connections: {tls}; http2_fast_path.rq_total: {h2}");
        Assert.Equal(FastPathExpected ? 2 : 0, tls);
        Assert.Equal(FastPathExpected ? 4 : 0, h2);
    }

    private static HttpClient Client(int port, TestCertificates pki, Version version)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = TestHttp.ConnectToLoopback(port),
            SslOptions = new SslClientAuthenticationOptions
            {
                TargetHost = ServerName,
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is System.Security.Cryptography.X509Certificates.X509Certificate2 presented
                    && presented.Issuer == pki.Ca.Subject,
            },
        };
        return new HttpClient(handler)
        {
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(20),
        };
    }

    private static string Config(TestCertificate server, int upstreamPort) => $$"""
        admin:
          address:
            socket_address: { address: 127.0.0.1, port_value: 0 }
        static_resources:
          listeners:
          - name: https
            address:
              socket_address: { address: 127.0.0.1, port_value: 0 }
            filter_chains:
            - transport_socket:
                name: envoy.transport_sockets.tls
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
                  common_tls_context:
                    alpn_protocols: ["h2", "http/1.1"]
                    tls_certificates:
                    - certificate_chain: { filename: "{{server.CertificatePath}}" }
                      private_key: { filename: "{{server.KeyPath}}" }
              filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: https
                  codec_type: AUTO
                  route_config:
                    name: https
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: { prefix: / }
                        route: { cluster: v1 }
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: v1
            type: STATIC
            connect_timeout: 1s
            load_assignment:
              cluster_name: v1
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address: { address: 127.0.0.1, port_value: {{upstreamPort}} }
        """;
}
