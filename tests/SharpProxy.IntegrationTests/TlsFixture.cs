using System.Text.Json.Nodes;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// A test PKI, two HTTPS echo upstreams (one requiring a client certificate), a plaintext echo upstream and one proxy
/// with a TLS gateway listener (SNI-selected chains, mTLS, passthrough) and upstream TLS clusters.
/// </summary>
public sealed class TlsFixture : IAsyncLifetime
{
    public const string Listener = "gateway";
    public const string TcpListener = "tcp_tls";
    public const string ClientSpiffeId = "spiffe://cluster.local/ns/default/sa/client";

    private ProxyProcess? _proxy;
    private Exception? _startFailure;

    public TestCertificates Pki { get; } = new();

    public TestCertificate ServerA { get; private set; } = null!;

    public TestCertificate ServerB { get; private set; } = null!;

    public TestCertificate ServerMtls { get; private set; } = null!;

    public TestCertificate Client { get; private set; } = null!;

    public TestCertificate ClientWrongSan { get; private set; } = null!;

    public TestCertificate ClientExpired { get; private set; } = null!;

    public TestCertificate Upstream { get; private set; } = null!;

    public TestCertificate Passthrough { get; private set; } = null!;

    public EchoUpstream Plain { get; private set; } = null!;

    /// <summary>HTTPS upstream requiring a client certificate from the test CA.</summary>
    public EchoUpstream Secure { get; private set; } = null!;

    /// <summary>HTTPS upstream without client certificates (the passthrough target).</summary>
    public EchoUpstream Open { get; private set; } = null!;

    public ProxyProcess Proxy => _proxy ?? throw new InvalidOperationException($"The proxy did not start: {_startFailure?.Message}", _startFailure);

    public int Port => _proxy is null ? throw new InvalidOperationException($"The proxy did not start: {_startFailure?.Message}", _startFailure) : _port;

    private int _port;

    /// <summary>Every HTTP filter chain's access log: the SNI the client sent and the path, one line per request.</summary>
    public static string AccessLogPath { get; } = Path.Combine(Directory.CreateTempSubdirectory("sharpproxy-tls-log-").FullName, "access.log");

    /// <summary>The plaintext TCP listener whose tcp_proxy reaches the HTTPS upstream over mutual TLS.</summary>
    public int TcpPort { get; private set; }

    public async Task InitializeAsync()
    {
        ServerA = Pki.Issue("a-server", dnsNames: ["a.example.com"]);
        ServerB = Pki.Issue("b-wildcard", dnsNames: ["*.b.example.com"]);
        ServerMtls = Pki.Issue("mtls-server", dnsNames: ["mtls.example.com"]);
        Client = Pki.Issue("client", uris: [ClientSpiffeId], server: false);
        ClientWrongSan = Pki.Issue("client-other", uris: ["spiffe://cluster.local/ns/default/sa/other"], server: false);
        ClientExpired = Pki.Issue("client-expired", uris: [ClientSpiffeId], server: false, notBefore: DateTimeOffset.UtcNow.AddDays(-10), notAfter: DateTimeOffset.UtcNow.AddDays(-1));
        Upstream = Pki.Issue("upstream", dnsNames: ["upstream.example.com"], uris: ["spiffe://cluster.local/ns/default/sa/upstream"]);
        Passthrough = Pki.Issue("passthrough", dnsNames: ["pass.example.com"]);

        Plain = await EchoUpstream.StartAsync("plain");
        Secure = await EchoUpstream.StartHttpsAsync("secure", Upstream.Certificate, clientCa: Pki.Ca);
        Open = await EchoUpstream.StartHttpsAsync("open", Passthrough.Certificate);

        using var config = ConfigWriter.WriteText(Config());
        try
        {
            _proxy = await ProxyProcess.StartAsync(config.Path);
            _port = await _proxy.GetListenerPortAsync(Listener);
            TcpPort = await _proxy.GetListenerPortAsync(TcpListener);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or HttpRequestException or FileNotFoundException)
        {
            _startFailure = ex;
        }
    }

    public async Task DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        await Plain.DisposeAsync();
        await Secure.DisposeAsync();
        await Open.DisposeAsync();
        Pki.Dispose();
    }

    private static JsonObject TlsSocket(string contextType, JsonObject context)
    {
        context["@type"] = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3." + contextType;
        return new JsonObject { ["name"] = "envoy.transport_sockets.tls", ["typed_config"] = context };
    }

    private static JsonObject File(string path) => new() { ["filename"] = path };

    private static JsonObject Certificate(TestCertificate certificate) => new()
    {
        ["certificate_chain"] = File(certificate.CertificatePath),
        ["private_key"] = File(certificate.KeyPath),
    };

    private static JsonArray Filters(string statPrefix, params (string Prefix, string Cluster)[] routes)
    {
        var routeArray = new JsonArray();
        foreach (var (prefix, cluster) in routes)
        {
            routeArray.Add(new JsonObject { ["match"] = new JsonObject { ["prefix"] = prefix }, ["route"] = new JsonObject { ["cluster"] = cluster } });
        }

        return
        [
            new JsonObject
            {
                ["name"] = "envoy.filters.network.http_connection_manager",
                ["typed_config"] = new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    ["stat_prefix"] = statPrefix,
                    ["codec_type"] = "AUTO",
                    ["access_log"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "envoy.access_loggers.file",
                        ["typed_config"] = new JsonObject
                        {
                            ["@type"] = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                            ["path"] = AccessLogPath,
                            ["log_format"] = new JsonObject
                            {
                                ["text_format_source"] = new JsonObject { ["inline_string"] = "%REQUESTED_SERVER_NAME% %REQ(:PATH)%\n" },
                            },
                        },
                    }),
                    ["route_config"] = new JsonObject
                    {
                        ["virtual_hosts"] = new JsonArray(new JsonObject { ["name"] = "all", ["domains"] = new JsonArray("*"), ["routes"] = routeArray }),
                    },
                    ["http_filters"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "envoy.filters.http.router",
                        ["typed_config"] = new JsonObject { ["@type"] = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                    }),
                },
            },
        ];
    }

    private static JsonObject Cluster(string name, int port, string? tlsMode = null)
    {
        var lbEndpoint = new JsonObject
        {
            ["endpoint"] = new JsonObject
            {
                ["address"] = new JsonObject { ["socket_address"] = new JsonObject { ["address"] = "127.0.0.1", ["port_value"] = port } },
            },
        };
        if (tlsMode is not null)
        {
            lbEndpoint["metadata"] = new JsonObject
            {
                ["filter_metadata"] = new JsonObject { ["envoy.transport_socket_match"] = new JsonObject { ["tlsMode"] = tlsMode } },
            };
        }

        return new JsonObject
        {
            ["name"] = name,
            ["connect_timeout"] = "2s",
            ["type"] = "STATIC",
            ["load_assignment"] = new JsonObject
            {
                ["cluster_name"] = name,
                ["endpoints"] = new JsonArray(new JsonObject { ["lb_endpoints"] = new JsonArray(lbEndpoint) }),
            },
        };
    }

    private JsonObject UpstreamTls(string sanExact) => TlsSocket("UpstreamTlsContext", new JsonObject
    {
        ["sni"] = "upstream.example.com",
        ["common_tls_context"] = new JsonObject
        {
            ["alpn_protocols"] = new JsonArray("h2", "http/1.1"),
            ["tls_certificates"] = new JsonArray(Certificate(Client)),
            ["validation_context"] = new JsonObject
            {
                ["trusted_ca"] = File(Pki.CaPath),
                ["match_typed_subject_alt_names"] = new JsonArray(new JsonObject
                {
                    ["san_type"] = "DNS",
                    ["matcher"] = new JsonObject { ["exact"] = sanExact },
                }),
            },
        },
    });

    private JsonArray IstioMatches() =>
    [
        new JsonObject { ["name"] = "tlsMode-istio", ["match"] = new JsonObject { ["tlsMode"] = "istio" }, ["transport_socket"] = UpstreamTls("upstream.example.com") },
        new JsonObject
        {
            ["name"] = "tlsMode-disabled",
            ["match"] = new JsonObject(),
            ["transport_socket"] = new JsonObject
            {
                ["name"] = "envoy.transport_sockets.raw_buffer",
                ["typed_config"] = new JsonObject { ["@type"] = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer" },
            },
        },
    ];

    private static JsonObject Chain(string name, string serverName, JsonObject? transportSocket, JsonArray filters)
    {
        var chain = new JsonObject { ["name"] = name };
        if (serverName.Length > 0)
        {
            chain["filter_chain_match"] = new JsonObject { ["server_names"] = new JsonArray(serverName) };
        }

        if (transportSocket is not null)
        {
            chain["transport_socket"] = transportSocket;
        }

        chain["filters"] = filters;
        return chain;
    }

    private string Config()
    {
        var downstreamA = TlsSocket("DownstreamTlsContext", new JsonObject
        {
            ["common_tls_context"] = new JsonObject
            {
                ["alpn_protocols"] = new JsonArray("h2", "http/1.1"),
                ["tls_certificates"] = new JsonArray(Certificate(ServerA)),
            },
        });
        var downstreamB = TlsSocket("DownstreamTlsContext", new JsonObject
        {
            ["common_tls_context"] = new JsonObject
            {
                ["alpn_protocols"] = new JsonArray("http/1.1"),
                ["tls_params"] = new JsonObject { ["cipher_suites"] = new JsonArray("ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384") },
                ["tls_certificates"] = new JsonArray(new JsonObject
                {
                    ["certificate_chain"] = new JsonObject { ["inline_string"] = ServerB.Certificate.ExportCertificatePem() },
                    ["private_key"] = File(ServerB.KeyPath),
                }),
            },
        });
        var downstreamMtls = TlsSocket("DownstreamTlsContext", new JsonObject
        {
            ["require_client_certificate"] = true,
            ["common_tls_context"] = new JsonObject
            {
                ["alpn_protocols"] = new JsonArray("h2", "http/1.1"),
                ["tls_certificates"] = new JsonArray(Certificate(ServerMtls)),
                ["validation_context"] = new JsonObject
                {
                    ["trusted_ca"] = File(Pki.CaPath),
                    ["match_typed_subject_alt_names"] = new JsonArray(new JsonObject
                    {
                        ["san_type"] = "URI",
                        ["matcher"] = new JsonObject { ["exact"] = ClientSpiffeId },
                    }),
                },
            },
        });
        var passthroughFilters = new JsonArray(new JsonObject
        {
            ["name"] = "envoy.filters.network.tcp_proxy",
            ["typed_config"] = new JsonObject
            {
                ["@type"] = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                ["stat_prefix"] = "pass",
                ["cluster"] = "open_direct",
            },
        });

        var upstreamTls = Cluster("upstream_tls", Secure.HttpsPort);
        upstreamTls["transport_socket"] = UpstreamTls("upstream.example.com");
        var wrongSan = Cluster("upstream_wrong_san", Secure.HttpsPort);
        wrongSan["transport_socket"] = UpstreamTls("other.example.com");
        var upstreamTlsH2 = Cluster("upstream_tls_h2", Secure.HttpsPort);
        upstreamTlsH2["transport_socket"] = UpstreamTls("upstream.example.com");
        upstreamTlsH2["typed_extension_protocol_options"] = new JsonObject
        {
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = new JsonObject
            {
                ["@type"] = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                ["explicit_http_config"] = new JsonObject { ["http2_protocol_options"] = new JsonObject() },
            },
        };
        var wrongSanH2 = Cluster("upstream_wrong_san_h2", Secure.HttpsPort);
        wrongSanH2["transport_socket"] = UpstreamTls("other.example.com");
        wrongSanH2["typed_extension_protocol_options"] = upstreamTlsH2["typed_extension_protocol_options"]!.DeepClone();
        var permissiveTls = TlsSocket("DownstreamTlsContext", new JsonObject
        {
            ["common_tls_context"] = new JsonObject
            {
                ["alpn_protocols"] = new JsonArray("h2", "http/1.1"),
                ["tls_certificates"] = new JsonArray(Certificate(ServerMtls)),
            },
        });
        var tcpTls = TlsSocket("DownstreamTlsContext", new JsonObject
        {
            ["common_tls_context"] = new JsonObject { ["tls_certificates"] = new JsonArray(Certificate(ServerA)) },
        });
        var tcpTlsChain = Chain("tcp-tls", "tcp.example.com", tcpTls, new JsonArray(new JsonObject
        {
            ["name"] = "envoy.filters.network.tcp_proxy",
            ["typed_config"] = new JsonObject
            {
                ["@type"] = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                ["stat_prefix"] = "tcp_tls_in",
                ["cluster"] = "plain",
            },
        }));
        var permissiveChain = Chain("permissive-tls", "", permissiveTls, Filters("gw_tls_any", ("/", "plain")));
        permissiveChain["filter_chain_match"] = new JsonObject { ["transport_protocol"] = "tls" };
        var istioLike = Cluster("istio_like", Secure.HttpsPort, tlsMode: "istio");
        istioLike["transport_socket_matches"] = IstioMatches();
        var istioLikeRaw = Cluster("istio_like_raw", Plain.Http1Port);
        istioLikeRaw["transport_socket_matches"] = IstioMatches();

        var config = new JsonObject
        {
            ["admin"] = new JsonObject { ["address"] = new JsonObject { ["socket_address"] = new JsonObject { ["address"] = "127.0.0.1", ["port_value"] = 0 } } },
            ["static_resources"] = new JsonObject
            {
                ["listeners"] = new JsonArray(new JsonObject
                {
                    ["name"] = Listener,
                    ["address"] = new JsonObject { ["socket_address"] = new JsonObject { ["address"] = "127.0.0.1", ["port_value"] = 0 } },
                    ["listener_filters"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "envoy.filters.listener.tls_inspector",
                        ["typed_config"] = new JsonObject { ["@type"] = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" },
                    }),
                    ["filter_chains"] = new JsonArray(
                        Chain("a", "a.example.com", downstreamA, Filters("gw_a", ("/", "plain"))),
                        Chain("b", "*.b.example.com", downstreamB, Filters("gw_b", ("/", "plain"))),
                        Chain("mtls", "mtls.example.com", downstreamMtls, Filters("gw_mtls", ("/", "plain"))),
                        Chain("passthrough", "pass.example.com", null, passthroughFilters),
                        tcpTlsChain,
                        permissiveChain,
                        Chain("plaintext", "", null, Filters("plain", ("/up-tls", "upstream_tls"), ("/up-h2", "upstream_tls_h2"), ("/up-wrong-san-h2", "upstream_wrong_san_h2"), ("/up-wrong-san", "upstream_wrong_san"), ("/up-match", "istio_like"), ("/up-raw", "istio_like_raw"), ("/", "plain")))),
                },
                new JsonObject
                {
                    // Plaintext TCP in, mutual TLS out (Istio's outbound TCP to a tlsMode: istio endpoint).
                    ["name"] = TcpListener,
                    ["address"] = new JsonObject { ["socket_address"] = new JsonObject { ["address"] = "127.0.0.1", ["port_value"] = 0 } },
                    ["filter_chains"] = new JsonArray(Chain("tcp", "", null, new JsonArray(new JsonObject
                    {
                        ["name"] = "envoy.filters.network.tcp_proxy",
                        ["typed_config"] = new JsonObject
                        {
                            ["@type"] = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                            ["stat_prefix"] = "tcp_tls",
                            ["cluster"] = "istio_like",
                        },
                    }))),
                }),
                ["clusters"] = new JsonArray(Cluster("plain", Plain.Http1Port), Cluster("open_direct", Open.HttpsPort), upstreamTls, upstreamTlsH2, wrongSan, wrongSanH2, istioLike, istioLikeRaw),
            },
        };
        return config.ToJsonString();
    }
}
