using System.Security.Authentication;
using SharpProxy.Core.Configuration;
using SharpProxy.Testing;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Translation;

/// <summary>Filter chain and cluster transport sockets: what is honoured, and errors that name the file and the path.</summary>
public sealed class TlsTranslationTests : IDisposable
{
    private const string ChainPath = "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config";

    private readonly TestCertificates _pki = new();
    private readonly TestCertificate _server;

    public TlsTranslationTests()
    {
        _server = _pki.Issue("server", dnsNames: ["a.example.com"]);
    }

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void Downstream_FilesAndValidation_Translated()
    {
        var chain = LoadChain($$"""
            require_client_certificate: true
            common_tls_context:
              tls_params: { tls_minimum_protocol_version: TLSv1_3 }
              alpn_protocols: [h2, http/1.1]
              tls_certificates:
              - certificate_chain: { filename: {{_server.CertificatePath}} }
                private_key: { filename: {{_server.KeyPath}} }
              validation_context:
                trusted_ca: { filename: {{_pki.CaPath}} }
                match_typed_subject_alt_names:
                - { san_type: URI, matcher: { prefix: "spiffe://cluster.local/" } }
            """);

        var tls = chain.Tls!;
        Assert.True(tls.RequireClientCertificate);
        Assert.Equal(SslProtocols.Tls13, tls.Common.Protocols);
        Assert.Equal(["h2", "http/1.1"], tls.Common.AlpnProtocols.ToArray());
        Assert.Equal(_server.Certificate.Thumbprint, Assert.Single(tls.Common.Certificates).Certificate.Thumbprint);
        Assert.True(Assert.Single(tls.Common.Certificates).Certificate.HasPrivateKey);
        Assert.Equal(_pki.Ca.Thumbprint, Assert.Single(tls.Common.Validation!.TrustedCa).Thumbprint);
        Assert.Equal(new SanMatcherConfig(SanType.Uri, new StringMatcherConfig(StringMatchKind.Prefix, "spiffe://cluster.local/")), Assert.Single(tls.Common.Validation.SanMatchers));
    }

    [Fact]
    public void Downstream_DefaultVersions_Tls12To13()
    {
        var chain = LoadChain(Certificate(_server.CertificatePath, _server.KeyPath));

        Assert.Equal(SslProtocols.Tls12 | SslProtocols.Tls13, chain.Tls!.Common.Protocols);
        Assert.False(chain.Tls.RequireClientCertificate);
    }

    [Fact]
    public void Downstream_MissingFile_ErrorNamesFileAndPath()
    {
        var missing = Path.Combine(_pki.Directory, "nope.pem");

        var errors = LoadErrors(Certificate(missing, _server.KeyPath));

        var error = Assert.Single(errors);
        Assert.Contains(ChainPath + ".common_tls_context.tls_certificates[0].certificate_chain.filename", error, StringComparison.Ordinal);
        Assert.Contains(missing, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Downstream_KeyOfAnotherCertificate_ErrorNamesFile()
    {
        var other = _pki.Issue("other");

        var error = Assert.Single(LoadErrors(Certificate(_server.CertificatePath, other.KeyPath)));

        Assert.Contains(_server.CertificatePath, error, StringComparison.Ordinal);
        Assert.Contains("private_key", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Downstream_Tls10_RefusedNamingTheField()
    {
        var error = Assert.Single(LoadErrors("""
            common_tls_context:
              tls_params: { tls_minimum_protocol_version: TLSv1_0 }
            """ + "\n" + Certificate(_server.CertificatePath, _server.KeyPath, indent: false)));

        Assert.Contains("tls_params.tls_minimum_protocol_version", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Downstream_CipherSuites_OpenSslNamesAndGroupsTranslated()
    {
        var chain = LoadChain("""
            common_tls_context:
              tls_params: { cipher_suites: ["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]", ECDHE-RSA-AES256-GCM-SHA384] }
            """ + "\n" + Certificate(_server.CertificatePath, _server.KeyPath, indent: false));

        Assert.Equal(
            [System.Net.Security.TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, System.Net.Security.TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, System.Net.Security.TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384],
            chain.Tls!.Common.CipherSuites.ToArray());
    }

    [Fact]
    public void Downstream_UnknownCipher_RefusedNamingFieldAndCipher()
    {
        var error = Assert.Single(LoadErrors("""
            common_tls_context:
              tls_params: { cipher_suites: [ECDHE-RSA-AES128-GCM-SHA256, DES-CBC3-SHA] }
            """ + "\n" + Certificate(_server.CertificatePath, _server.KeyPath, indent: false)));

        Assert.Contains("tls_params.cipher_suites[1]", error, StringComparison.Ordinal);
        Assert.Contains("DES-CBC3-SHA", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Downstream_SdsOverAdsWithoutAds_ErrorNamesThePath()
    {
        var error = Assert.Single(LoadErrors("""
            common_tls_context:
              tls_certificate_sds_secret_configs:
              - name: default
                sds_config: { ads: {} }
            """));

        Assert.Contains("tls_certificate_sds_secret_configs[0].sds_config", error, StringComparison.Ordinal);
        Assert.Contains("ads_config", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Downstream_SdsFromItsOwnGrpcCluster_NotSupportedYet()
    {
        // Istio's shape: the node agent's SDS server on the sds-grpc cluster.
        var error = Assert.Single(LoadErrors("""
            common_tls_context:
              tls_certificate_sds_secret_configs:
              - name: default
                sds_config:
                  api_config_source:
                    api_type: GRPC
                    transport_api_version: V3
                    grpc_services: [ { envoy_grpc: { cluster_name: sds-grpc } } ]
            """));

        Assert.Contains("tls_certificate_sds_secret_configs[0].sds_config", error, StringComparison.Ordinal);
        Assert.Contains("not supported yet", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Downstream_StaticSecretByName_Used()
    {
        var yaml = Listener("""
            common_tls_context:
              tls_certificate_sds_secret_configs: [ { name: server-cert } ]
            """) + $$"""
              secrets:
              - name: server-cert
                tls_certificate:
                  certificate_chain: { filename: {{_server.CertificatePath}} }
                  private_key: { filename: {{_server.KeyPath}} }

            """;

        var config = BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: false).Config;

        var tls = config.Listeners[0].FilterChains[0].Tls!;
        Assert.Equal(_server.Certificate.Thumbprint, Assert.Single(tls.Common.Certificates).Certificate.Thumbprint);
    }

    [Fact]
    public void Listener_ServerNamesWithoutInspectorFilter_InspectsTls()
    {
        var yaml = Listener(Certificate(_server.CertificatePath, _server.KeyPath), serverNames: "[\"*.example.com\", A.example.com]");

        var listener = BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: false).Config.Listeners[0];

        Assert.True(listener.InspectTls);
        Assert.Equal(["*.example.com", "a.example.com"], listener.FilterChains[0].Match.ServerNames.ToArray());
    }

    [Fact]
    public void Listener_PartialWildcard_Refused()
    {
        var yaml = Listener(Certificate(_server.CertificatePath, _server.KeyPath), serverNames: "[\"*w.example.com\"]");

        var ex = Assert.Throws<ConfigException>(() => BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: false));

        Assert.Contains("filter_chain_match.server_names[0]", Assert.Single(ex.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Cluster_TransportSocketMatches_IstioShape()
    {
        var client = _pki.Issue("client", uris: ["spiffe://cluster.local/ns/default/sa/client"], server: false);
        var yaml = $$"""
            static_resources:
              clusters:
              - name: outbound|9080||reviews.default.svc.cluster.local
                type: STATIC
                connect_timeout: 1s
                transport_socket_matches:
                - name: tlsMode-istio
                  match: { tlsMode: istio }
                  transport_socket:
                    name: envoy.transport_sockets.tls
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
                      sni: outbound_.9080_._.reviews.default.svc.cluster.local
                      common_tls_context:
                        alpn_protocols: [istio-peer-exchange, istio]
                        tls_certificates:
                        - certificate_chain: { filename: {{client.CertificatePath}} }
                          private_key: { filename: {{client.KeyPath}} }
                        combined_validation_context:
                          default_validation_context:
                            match_subject_alt_names: [ { exact: "spiffe://cluster.local/ns/default/sa/reviews" } ]
                          validation_context_sds_secret_config: { name: ROOTCA }
                - name: tlsMode-disabled
                  match: {}
                  transport_socket: { name: envoy.transport_sockets.raw_buffer }
                load_assignment:
                  cluster_name: reviews
                  endpoints:
                  - lb_endpoints:
                    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9080 } } }
                      metadata: { filter_metadata: { envoy.transport_socket_match: { tlsMode: istio } } }
              secrets:
              - name: ROOTCA
                validation_context: { trusted_ca: { filename: {{_pki.CaPath}} } }
            """;

        var cluster = Assert.Single(BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: false).Config.Clusters);

        Assert.Null(cluster.Tls);
        Assert.Equal(2, cluster.TransportSocketMatches.Length);
        var istio = cluster.TransportSocketMatches[0];
        Assert.Equal("istio", istio.Match["tlsMode"]);
        Assert.Equal("outbound_.9080_._.reviews.default.svc.cluster.local", istio.Tls!.Sni);
        Assert.Equal(["istio-peer-exchange", "istio"], istio.Tls.Common.AlpnProtocols.ToArray());
        Assert.Equal(_pki.Ca.Thumbprint, Assert.Single(istio.Tls.Common.Validation!.TrustedCa).Thumbprint);
        Assert.Equal(SanType.Any, Assert.Single(istio.Tls.Common.Validation.SanMatchers).Type);
        Assert.Empty(cluster.TransportSocketMatches[1].Match);
        Assert.Null(cluster.TransportSocketMatches[1].Tls);
        Assert.Same(istio.Tls, Core.Tls.UpstreamTlsContext.Select(cluster, cluster.Endpoints[0].Metadata));
        Assert.Null(Core.Tls.UpstreamTlsContext.Select(cluster, MetadataConfig.Empty));
    }

    private static string Certificate(string chain, string key, bool indent = true)
    {
        var text = $$"""
              tls_certificates:
              - certificate_chain: { filename: {{chain}} }
                private_key: { filename: {{key}} }
            """;
        return indent ? "common_tls_context:\n" + text : text;
    }

    private static string Listener(string tlsContext, string? serverNames = null)
    {
        var context = string.Join("\n", tlsContext.Split('\n').Select(line => "          " + line));
        var match = serverNames is null ? "" : "      filter_chain_match: { server_names: " + serverNames + " }\n";
        return "static_resources:\n"
            + "  listeners:\n"
            + "  - name: l\n"
            + "    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n"
            + "    filter_chains:\n"
            + "    - name: c\n"
            + match
            + "      transport_socket:\n"
            + "        name: envoy.transport_sockets.tls\n"
            + "        typed_config:\n"
            + "          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n"
            + context + "\n"
            + "      filters:\n"
            + "      - name: envoy.filters.network.http_connection_manager\n"
            + "        typed_config:\n"
            + "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n"
            + "          stat_prefix: s\n"
            + "          route_config: { virtual_hosts: [ { name: v, domains: [\"*\"], routes: [ { match: { prefix: \"/\" }, direct_response: { status: 200 } } ] } ] }\n"
            + "          http_filters: [ { name: envoy.filters.http.router, typed_config: { \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } } ]\n";
    }

    private static FilterChainConfig LoadChain(string tlsContext) =>
        BootstrapLoader.LoadFromJson(YamlJson.Parse(Listener(tlsContext))!, "test.yaml", allowUnknownFields: false).Config.Listeners[0].FilterChains[0];

    private static IReadOnlyList<string> LoadErrors(string tlsContext) =>
        Assert.Throws<ConfigException>(() => BootstrapLoader.LoadFromJson(YamlJson.Parse(Listener(tlsContext))!, "test.yaml", allowUnknownFields: false)).Errors;
}
