using System.Net;
using System.Text.Json.Nodes;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Two SharpProxy processes as two pods' sidecars, configured as istiod does: the client's outbound cluster switches to
/// mutual TLS for a <c>tlsMode: istio</c> endpoint (SNI outbound_.., ALPN istio-peer-exchange/istio, SAN check of the
/// server's SPIFFE id); the server's inbound listener requires a client certificate whose SPIFFE id it checks, chooses
/// its chain by transport protocol and ALPN, and keeps a plaintext chain on the same port (PERMISSIVE).
/// </summary>
public sealed class SidecarMtlsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string ProductpageId = "spiffe://cluster.local/ns/default/sa/productpage";
    private const string ReviewsId = "spiffe://cluster.local/ns/default/sa/reviews";
    private readonly TestCertificates _pki = new();
    private EchoUpstream _app = null!;

    public async Task InitializeAsync() => _app = await EchoUpstream.StartAsync("reviews-app");

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _pki.Dispose();
    }

    [Fact]
    public async Task ClientSidecarToServerSidecar_MutualTlsWithSpiffeIdentities_AndPlaintextStillAccepted()
    {
        var reviews = _pki.Issue("reviews", uris: [ReviewsId]);
        var productpage = _pki.Issue("productpage", uris: [ProductpageId], server: false);
        var stranger = _pki.Issue("stranger", uris: ["spiffe://cluster.local/ns/other/sa/stranger"], server: false);

        using var serverConfig = ConfigWriter.WriteText(ServerSidecar(reviews, allowedClient: ProductpageId).ToJsonString());
        await using var server = await ProxyProcess.StartAsync(serverConfig.Path);
        var inboundPort = await server.GetListenerPortAsync("virtualInbound");

        using var clientConfig = ConfigWriter.WriteText(ClientSidecar(productpage, inboundPort, expectedServer: ReviewsId).ToJsonString());
        await using var client = await ProxyProcess.StartAsync(clientConfig.Path);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{await client.GetListenerPortAsync("outbound")}/"), Timeout = TimeSpan.FromSeconds(10) };

        using (var response = await http.GetAsync("/reviews/1"))
        {
            var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, client);
            Assert.Contains("\"label\":\"reviews-app\"", body, StringComparison.Ordinal);
        }

        var (_, serverStats) = await server.AdminGetAsync("/stats");
        Assert.Matches(@"listener\.127\.0\.0\.1_\d+\.ssl\.handshake: [1-9]", serverStats);
        var (_, clientStats) = await client.AdminGetAsync("/stats");
        Assert.Contains("cluster.outbound|9080||reviews.default.svc.cluster.local.ssl.handshake: 1", clientStats, StringComparison.Ordinal);

        // PERMISSIVE: a plaintext client reaches the same inbound port.
        using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{inboundPort}/"), Timeout = TimeSpan.FromSeconds(10) };
        using (var response = await plain.GetAsync("/plain"))
        {
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, server);
        }

        // A sidecar with another identity is refused by the server's SAN check; its client sees 503 UF.
        using var strangerConfig = ConfigWriter.WriteText(ClientSidecar(stranger, inboundPort, expectedServer: ReviewsId).ToJsonString());
        await using var strangerProxy = await ProxyProcess.StartAsync(strangerConfig.Path);
        using var strangerHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{await strangerProxy.GetListenerPortAsync("outbound")}/"), Timeout = TimeSpan.FromSeconds(10) };
        using (var response = await strangerHttp.GetAsync("/reviews/2"))
        {
            var body = await response.Content.ReadAsStringAsync();
            output.WriteLine($"stranger: {(int)response.StatusCode} {body}");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        (_, serverStats) = await server.AdminGetAsync("/stats");
        Assert.Matches(@"listener\.127\.0\.0\.1_\d+\.ssl\.fail_verify_san: [1-9]", serverStats);
    }

    private static JsonObject Address(int port) => new() { ["socket_address"] = new JsonObject { ["address"] = "127.0.0.1", ["port_value"] = port } };

    private static JsonObject Admin() => new() { ["address"] = Address(0) };

    private static JsonArray Hcm(string statPrefix, string cluster) =>
    [
        new JsonObject
        {
            ["name"] = "envoy.filters.network.http_connection_manager",
            ["typed_config"] = new JsonObject
            {
                ["@type"] = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                ["stat_prefix"] = statPrefix,
                ["route_config"] = new JsonObject
                {
                    ["virtual_hosts"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "all",
                        ["domains"] = new JsonArray("*"),
                        ["routes"] = new JsonArray(new JsonObject { ["match"] = new JsonObject { ["prefix"] = "/" }, ["route"] = new JsonObject { ["cluster"] = cluster } }),
                    }),
                },
                ["http_filters"] = new JsonArray(new JsonObject
                {
                    ["name"] = "envoy.filters.http.router",
                    ["typed_config"] = new JsonObject { ["@type"] = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                }),
            },
        },
    ];

    private static JsonObject Tls(string type, JsonObject context)
    {
        context["@type"] = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3." + type;
        return new JsonObject { ["name"] = "envoy.transport_sockets.tls", ["typed_config"] = context };
    }

    private JsonObject CommonContext(TestCertificate identity, string peerId, params string[] alpn) => new()
    {
        ["alpn_protocols"] = new JsonArray([.. alpn.Select(a => (JsonNode)a)]),
        ["tls_certificates"] = new JsonArray(new JsonObject
        {
            ["certificate_chain"] = new JsonObject { ["filename"] = identity.CertificatePath },
            ["private_key"] = new JsonObject { ["filename"] = identity.KeyPath },
        }),
        ["combined_validation_context"] = new JsonObject
        {
            ["default_validation_context"] = new JsonObject
            {
                ["match_subject_alt_names"] = new JsonArray(new JsonObject { ["exact"] = peerId }),
            },
            ["validation_context_sds_secret_config"] = new JsonObject { ["name"] = "ROOTCA" },
        },
    };

    private JsonArray RootCa() =>
    [
        new JsonObject { ["name"] = "ROOTCA", ["validation_context"] = new JsonObject { ["trusted_ca"] = new JsonObject { ["filename"] = _pki.CaPath } } },
    ];

    private static JsonObject StaticCluster(string name, int port, string? tlsMode = null)
    {
        var lbEndpoint = new JsonObject { ["endpoint"] = new JsonObject { ["address"] = Address(port) } };
        if (tlsMode is not null)
        {
            lbEndpoint["metadata"] = new JsonObject { ["filter_metadata"] = new JsonObject { ["envoy.transport_socket_match"] = new JsonObject { ["tlsMode"] = tlsMode } } };
        }

        return new JsonObject
        {
            ["name"] = name,
            ["type"] = "STATIC",
            ["connect_timeout"] = "2s",
            ["load_assignment"] = new JsonObject
            {
                ["cluster_name"] = name,
                ["endpoints"] = new JsonArray(new JsonObject { ["lb_endpoints"] = new JsonArray(lbEndpoint) }),
            },
        };
    }

    private JsonObject ServerSidecar(TestCertificate identity, string allowedClient)
    {
        var mtls = new JsonObject
        {
            ["name"] = "inbound-mtls",
            ["filter_chain_match"] = new JsonObject
            {
                ["transport_protocol"] = "tls",
                ["application_protocols"] = new JsonArray("istio-peer-exchange", "istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"),
            },
            ["transport_socket"] = Tls("DownstreamTlsContext", new JsonObject
            {
                ["require_client_certificate"] = true,
                ["common_tls_context"] = CommonContext(identity, allowedClient, "h2", "http/1.1"),
            }),
            ["filters"] = Hcm("inbound_mtls", "inbound|9080||"),
        };
        var plaintext = new JsonObject
        {
            ["name"] = "inbound-plaintext",
            ["filter_chain_match"] = new JsonObject { ["transport_protocol"] = "raw_buffer" },
            ["filters"] = Hcm("inbound_plain", "inbound|9080||"),
        };
        return new JsonObject
        {
            ["admin"] = Admin(),
            ["static_resources"] = new JsonObject
            {
                ["listeners"] = new JsonArray(new JsonObject
                {
                    ["name"] = "virtualInbound",
                    ["address"] = Address(0),
                    ["listener_filters"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "envoy.filters.listener.tls_inspector",
                        ["typed_config"] = new JsonObject { ["@type"] = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" },
                    }),
                    ["filter_chains"] = new JsonArray(mtls, plaintext),
                }),
                ["clusters"] = new JsonArray(StaticCluster("inbound|9080||", _app.Http1Port)),
                ["secrets"] = RootCa(),
            },
        };
    }

    private JsonObject ClientSidecar(TestCertificate identity, int serverPort, string expectedServer)
    {
        var cluster = StaticCluster("outbound|9080||reviews.default.svc.cluster.local", serverPort, tlsMode: "istio");
        var upstream = new JsonObject
        {
            ["sni"] = "outbound_.9080_._.reviews.default.svc.cluster.local",
            ["common_tls_context"] = CommonContext(identity, expectedServer, "istio-peer-exchange", "istio"),
        };
        cluster["transport_socket_matches"] = new JsonArray(
            new JsonObject { ["name"] = "tlsMode-istio", ["match"] = new JsonObject { ["tlsMode"] = "istio" }, ["transport_socket"] = Tls("UpstreamTlsContext", upstream) },
            new JsonObject { ["name"] = "tlsMode-disabled", ["match"] = new JsonObject(), ["transport_socket"] = new JsonObject { ["name"] = "envoy.transport_sockets.raw_buffer" } });
        return new JsonObject
        {
            ["admin"] = Admin(),
            ["static_resources"] = new JsonObject
            {
                ["listeners"] = new JsonArray(new JsonObject
                {
                    ["name"] = "outbound",
                    ["address"] = Address(0),
                    ["filter_chains"] = new JsonArray(new JsonObject { ["filters"] = Hcm("outbound", "outbound|9080||reviews.default.svc.cluster.local") }),
                }),
                ["clusters"] = new JsonArray(cluster),
                ["secrets"] = RootCa(),
            },
        };
    }
}
