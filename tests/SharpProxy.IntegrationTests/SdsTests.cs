using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using SharpProxy.Testing;
using SharpProxy.Xds.Api.Config.Core.V3;
using SharpProxy.Xds.Api.Extensions.TransportSockets.Tls.V3;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// SDS over ADS: a listener's certificate named by tls_certificate_sds_secret_configs (sds_config: ads) arrives as a
/// Secret resource; the listener warms until it does; a new Secret version rotates the certificate for new handshakes
/// while connections already open keep working; no request fails during the rotation.
/// </summary>
public sealed class SdsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Listener = "sds_listener";
    private readonly TestCertificates _pki = new();
    private EchoUpstream _v1 = null!;

    public async Task InitializeAsync() => _v1 = await EchoUpstream.StartAsync("v1");

    public async Task DisposeAsync()
    {
        await _v1.DisposeAsync();
        _pki.Dispose();
    }

    [Theory]
    [InlineData("GRPC")]
    [InlineData("DELTA_GRPC")]
    public async Task Secret_ArrivesThenRotates_NewHandshakesUseNewCertificate_OpenConnectionsKeepWorking(string apiType)
    {
        var first = _pki.Issue("gateway-1", dnsNames: ["sds.example.com"]);
        var second = _pki.Issue("gateway-2", dnsNames: ["sds.example.com"]);
        await using var xds = await XdsTestServer.StartAsync();
        xds.Set(XdsTestServer.ClusterType, "1", XdsResources.EdsCluster("v1"));
        xds.Set(XdsTestServer.EndpointType, "1", XdsResources.Assignment("v1", _v1.Http1Port));
        xds.Set(XdsTestServer.RouteType, "1", XdsResources.WeightedRoute("route", ("v1", 100)));
        xds.Set(XdsTestServer.ListenerType, "1", TlsListener());
        xds.Set(XdsTestServer.SecretType, "1", Secret(first));
        await using var proxy = await StartProxyAsync(xds, apiType);
        var port = await proxy.GetListenerPortAsync(Listener);

        Assert.Contains(xds.Requests, r => r.TypeUrl == XdsTestServer.SecretType && r.Names.SequenceEqual(["default"]));
        Assert.Equal(first.Certificate.Thumbprint, (await GetAsync(port)).Thumbprint);

        // /config_dump shows the secret as Envoy does, its private key redacted.
        var (_, dump) = await proxy.AdminGetAsync("/config_dump");
        Assert.Contains("envoy.admin.v3.SecretsConfigDump", dump, StringComparison.Ordinal);
        Assert.Contains("\"[redacted]\"", dump, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", dump, StringComparison.Ordinal);

        // A connection opened before the rotation.
        using var openTcp = new TcpClient();
        await openTcp.ConnectAsync(IPAddress.Loopback, port);
        await using var open = new SslStream(openTcp.GetStream());
        await open.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "sds.example.com",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        Assert.Equal(first.Certificate.Thumbprint, new X509Certificate2(open.RemoteCertificate!).Thumbprint);
        Assert.Equal(200, await RawGetAsync(open, "/before"));

        // Requests on fresh connections keep flowing while the secret rotates.
        using var stop = new CancellationTokenSource();
        var failures = 0;
        var served = 0;
        var load = Task.Run(async () =>
        {
            for (var i = 0; i < 2000 && !stop.IsCancellationRequested; i++)
            {
                try
                {
                    await GetAsync(port);
                    Interlocked.Increment(ref served);
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or InvalidOperationException)
                {
                    Interlocked.Increment(ref failures);
                    output.WriteLine("request failed during rotation: " + ex.Message);
                }
            }
        });

        await Polling.UntilAsync(() => Volatile.Read(ref served) >= 5, TimeSpan.FromSeconds(20), "requests before the rotation");
        xds.Set(XdsTestServer.SecretType, "2", Secret(second));
        await Polling.UntilAsync(
            async () => (await GetAsync(port)).Thumbprint == second.Certificate.Thumbprint,
            TimeSpan.FromSeconds(20),
            "new handshakes present the rotated certificate");
        var servedAtRotation = Volatile.Read(ref served);
        await Polling.UntilAsync(() => Volatile.Read(ref served) >= servedAtRotation + 5, TimeSpan.FromSeconds(20), "requests after the rotation");
        stop.Cancel();
        await load;

        Assert.Equal(0, failures);
        Assert.Equal(200, await RawGetAsync(open, "/after"));
        Assert.DoesNotContain(xds.Requests, r => r.IsNack);
        output.WriteLine($"{served} requests on fresh TLS connections across the rotation, {failures} failed");
    }

    [Fact]
    public async Task Secret_NotYetSent_ListenerWarmsThenServes()
    {
        var certificate = _pki.Issue("late", dnsNames: ["sds.example.com"]);
        await using var xds = await XdsTestServer.StartAsync();
        xds.Set(XdsTestServer.ClusterType, "1", XdsResources.EdsCluster("v1"));
        xds.Set(XdsTestServer.EndpointType, "1", XdsResources.Assignment("v1", _v1.Http1Port));
        xds.Set(XdsTestServer.RouteType, "1", XdsResources.WeightedRoute("route", ("v1", 100)));
        xds.Set(XdsTestServer.ListenerType, "1", TlsListener());

        // Readiness waits for warming listeners up to the initial fetch timeout (as Envoy's init manager does).
        await using var proxy = await StartProxyAsync(xds, "GRPC", initialFetchTimeout: "2s");

        await Polling.UntilAsync(() => xds.Requests.Any(r => r.TypeUrl == XdsTestServer.SecretType && r.Names.Contains("default")), TimeSpan.FromSeconds(20), "the SDS subscription");
        var (_, listeners) = await proxy.AdminGetAsync("/listeners?format=json");
        Assert.DoesNotContain(Listener, listeners, StringComparison.Ordinal);
        Assert.DoesNotContain(xds.Requests, r => r.IsNack);

        xds.Set(XdsTestServer.SecretType, "1", Secret(certificate));
        await Polling.UntilAsync(
            async () => (await proxy.AdminGetAsync("/listeners?format=json")).Body.Contains(Listener, StringComparison.Ordinal),
            TimeSpan.FromSeconds(20),
            "the listener, once its secret arrived");
        var port = await proxy.GetListenerPortAsync(Listener);
        Assert.Equal(certificate.Certificate.Thumbprint, (await GetAsync(port)).Thumbprint);
    }

    private static Secret Secret(TestCertificate certificate) => new()
    {
        Name = "default",
        TlsCertificate = new TlsCertificate
        {
            CertificateChain = new DataSource { InlineString = File.ReadAllText(certificate.CertificatePath) },
            PrivateKey = new DataSource { InlineString = File.ReadAllText(certificate.KeyPath) },
        },
    };

    private static SharpProxy.Xds.Api.Config.Listener.V3.Listener TlsListener()
    {
        var listener = XdsResources.RdsListener(Listener, "route");
        var context = new DownstreamTlsContext { CommonTlsContext = new CommonTlsContext() };
        context.CommonTlsContext.TlsCertificateSdsSecretConfigs.Add(new SdsSecretConfig
        {
            Name = "default",
            SdsConfig = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 },
        });
        context.CommonTlsContext.AlpnProtocols.Add("http/1.1");
        listener.FilterChains[0].TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Any.Pack(context) };
        return listener;
    }

    /// <summary>One request on a new TLS connection; returns the certificate the proxy presented.</summary>
    private static async Task<X509Certificate2> GetAsync(int port)
    {
        X509Certificate2? seen = null;
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = TestHttp.ConnectToLoopback(port),
            SslOptions = new SslClientAuthenticationOptions
            {
                TargetHost = "sds.example.com",
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    seen = certificate is null ? null : new X509Certificate2(certificate);
                    return true;
                },
            },
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await client.GetAsync($"https://sds.example.com:{port}/rotation");
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException("status " + (int)response.StatusCode);
        }

        return seen ?? throw new InvalidOperationException("no server certificate");
    }

    /// <summary>An HTTP/1.1 GET on an open TLS stream; returns the status code.</summary>
    private static async Task<int> RawGetAsync(SslStream stream, string path)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: sds.example.com\r\n\r\n"));
        var buffer = new byte[64 * 1024];
        var received = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                break;
            }

            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            var text = received.ToString();
            var headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headerEnd < 0)
            {
                continue;
            }

            var lengthAt = text.IndexOf("content-length:", StringComparison.OrdinalIgnoreCase);
            var length = lengthAt < 0 ? 0 : int.Parse(text[(lengthAt + 15)..text.IndexOf('\r', lengthAt)].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            if (text.Length - headerEnd - 4 >= length)
            {
                return int.Parse(text[9..12], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new IOException("the connection closed before a whole response: " + received);
    }

    private static async Task<ProxyProcess> StartProxyAsync(XdsTestServer xds, string apiType, string initialFetchTimeout = "15s")
    {
        using var config = ConfigWriter.WriteText($$"""
            node: { id: "router~127.0.0.1~gateway.default~default.svc.cluster.local", cluster: gateway }
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
                    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{xds.Port}} } } }
            """);
        return await ProxyProcess.StartAsync(config.Path, ["--concurrency", "2"]);
    }
}
