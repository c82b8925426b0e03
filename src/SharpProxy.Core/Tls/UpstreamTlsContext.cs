using System.Collections.Immutable;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Tls;

/// <summary>The client side of one UpstreamTlsContext, compiled once per config: SNI, ALPN, client certificate, server verification.</summary>
internal sealed class UpstreamTlsContext
{
    private static readonly ConditionalWeakTable<UpstreamTlsConfig, UpstreamTlsContext> Compiled = new();

    private readonly UpstreamTlsConfig _config;
    private readonly SslStreamCertificateContext? _clientCertificate;
    private readonly List<SslApplicationProtocol> _alpnForHttp1;
    private readonly List<SslApplicationProtocol> _alpnForHttp2;
    private readonly PeerCertificateValidator _validator;

    private UpstreamTlsContext(UpstreamTlsConfig config)
    {
        _config = config;
        if (config.Common.Certificates.Length > 0)
        {
            var certificate = config.Common.Certificates[0];
            var intermediates = new X509Certificate2Collection();
            foreach (var intermediate in certificate.Intermediates)
            {
                intermediates.Add(intermediate);
            }

            _clientCertificate = SslStreamCertificateContext.Create(certificate.Certificate, intermediates, offline: true);
        }

        _alpnForHttp1 = AlpnFor(config.Common.AlpnProtocols, "http/1.1", "h2");
        _alpnForHttp2 = AlpnFor(config.Common.AlpnProtocols, "h2", "http/1.1");

        _validator = new PeerCertificateValidator(config.Common.Validation);
        _cipherPolicy = CertificateLoader.CipherPolicy(config.Common.CipherSuites);
    }

    private readonly CipherSuitesPolicy? _cipherPolicy;

    public static UpstreamTlsContext For(UpstreamTlsConfig config) => Compiled.GetValue(config, static c => new UpstreamTlsContext(c));

    /// <summary>
    /// Runs the client handshake over <paramref name="transport"/>. A failure throws <see cref="UpstreamTlsException"/>
    /// (the stream is disposed), counted in <paramref name="stats"/>.
    /// </summary>
    public async ValueTask<SslStream> HandshakeAsync(Stream transport, TlsStats stats, bool http2, CancellationToken cancellationToken)
    {
        var verify = PeerVerifyResult.Ok;
        var validator = _validator;
        var options = new SslClientAuthenticationOptions
        {
            // Envoy sends no SNI unless sni is set; an empty TargetHost sends none.
            TargetHost = _config.Sni ?? "",
            ApplicationProtocols = http2 ? _alpnForHttp2 : _alpnForHttp1,
            EnabledSslProtocols = _config.Common.Protocols,
            CipherSuitesPolicy = _cipherPolicy,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                verify = validator.Verify(certificate, chain);
                return DownstreamTlsContext.Count(verify, stats);
            },
        };
        if (_clientCertificate is not null)
        {
            options.ClientCertificateContext = _clientCertificate;
        }

        var ssl = new SslStream(transport, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
            stats.OnHandshake();
            return ssl;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            stats.OnConnectionError();
            await ssl.DisposeAsync().ConfigureAwait(false);
            var reason = verify switch
            {
                PeerVerifyResult.SanMismatch => "CERTIFICATE_VERIFY_FAILED: SAN mismatch",
                PeerVerifyResult.ChainError => "CERTIFICATE_VERIFY_FAILED: untrusted or expired certificate",
                PeerVerifyResult.NoCertificate => "CERTIFICATE_VERIFY_FAILED: no certificate",
                _ => ex.InnerException is { } inner ? ex.Message + " (" + inner.Message + ")" : ex.Message,
            };
            throw new UpstreamTlsException(reason, ex);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Options for a SocketsHttpHandler that runs the TLS itself (HTTP/2 over TLS): the handler sets ALPN to h2 and
    /// the target host from the URI unless <see cref="UpstreamTlsConfig.Sni"/> names one; verification is ours.
    /// </summary>
    public SslClientAuthenticationOptions CreateHandlerOptions(TlsStats stats)
    {
        var validator = _validator;
        var options = new SslClientAuthenticationOptions
        {
            EnabledSslProtocols = _config.Common.Protocols,
            CipherSuitesPolicy = _cipherPolicy,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                var ok = DownstreamTlsContext.Count(validator.Verify(certificate, chain), stats);
                if (!ok)
                {
                    stats.OnConnectionError();
                }

                return ok;
            },
        };
        if (_config.Sni is { } sni)
        {
            options.TargetHost = sni;
        }

        if (_clientCertificate is not null)
        {
            options.ClientCertificateContext = _clientCertificate;
        }

        return options;
    }

    /// <summary>
    /// The ALPN list offered on a connection that will speak <paramref name="codec"/>. As in Envoy, an empty
    /// alpn_protocols falls back to the codec's own protocol. The HTTP handler cannot switch codecs after the
    /// handshake, so the other HTTP protocol is left out of a configured list (a server picking it would break the
    /// connection); other ids (Istio's "istio-peer-exchange", "istio") are offered as configured.
    /// </summary>
    private static List<SslApplicationProtocol> AlpnFor(ImmutableArray<string> configured, string codec, string otherCodec)
    {
        var offered = new List<SslApplicationProtocol>();
        foreach (var protocol in configured.IsDefault ? [] : configured)
        {
            if (protocol != otherCodec)
            {
                offered.Add(new SslApplicationProtocol(protocol));
            }
        }

        if (offered.Count == 0)
        {
            offered.Add(new SslApplicationProtocol(configured.IsDefaultOrEmpty ? codec : configured[0]));
        }

        return offered;
    }

    /// <summary>
    /// The TLS context for one endpoint: the first transport_socket_matches entry whose match keys all equal the
    /// endpoint's <c>envoy.transport_socket_match</c> metadata, else the cluster's transport_socket.
    /// </summary>
    public static UpstreamTlsConfig? Select(ClusterConfig cluster, MetadataConfig? endpointMetadata)
    {
        var matches = cluster.TransportSocketMatches;
        if (matches.IsDefaultOrEmpty)
        {
            return cluster.Tls;
        }

        foreach (var match in matches)
        {
            var all = true;
            foreach (var (key, value) in match.Match)
            {
                if (endpointMetadata?.Get(TransportSocketMatchFilter, key) != value)
                {
                    all = false;
                    break;
                }
            }

            if (all)
            {
                return match.Tls;
            }
        }

        return cluster.Tls;
    }

    public const string TransportSocketMatchFilter = "envoy.transport_socket_match";
}

/// <summary>The upstream TLS handshake failed (Envoy: "transport failure reason: TLS error"); a connect failure, flag UF.</summary>
internal sealed class UpstreamTlsException(string reason, Exception inner) : IOException("TLS error: " + reason, inner);
