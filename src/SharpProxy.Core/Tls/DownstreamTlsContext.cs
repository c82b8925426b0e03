using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Tls;

/// <summary>
/// The server side of one filter chain's DownstreamTlsContext, compiled once per config: certificate contexts (leaf
/// plus intermediates, sent in the handshake), ALPN list and the client certificate validator.
/// </summary>
internal sealed class DownstreamTlsContext
{
    private static readonly ConditionalWeakTable<DownstreamTlsConfig, DownstreamTlsContext> Compiled = new();

    private readonly DownstreamTlsConfig _config;
    private readonly SslStreamCertificateContext[] _certificates;
    private readonly List<(SanType Type, string Value)>[] _certificateNames;
    private readonly List<SslApplicationProtocol>? _alpn;
    private readonly PeerCertificateValidator _validator;

    private DownstreamTlsContext(DownstreamTlsConfig config)
    {
        _config = config;
        var certificates = config.Common.Certificates;
        _certificates = new SslStreamCertificateContext[certificates.Length];
        _certificateNames = new List<(SanType, string)>[certificates.Length];
        for (var i = 0; i < certificates.Length; i++)
        {
            var intermediates = new X509Certificate2Collection();
            foreach (var intermediate in certificates[i].Intermediates)
            {
                intermediates.Add(intermediate);
            }

            _certificates[i] = SslStreamCertificateContext.Create(certificates[i].Certificate, intermediates, offline: true);
            _certificateNames[i] = SubjectAltNames.Read(certificates[i].Certificate);
        }

        if (!config.Common.AlpnProtocols.IsDefaultOrEmpty)
        {
            _alpn = new List<SslApplicationProtocol>(config.Common.AlpnProtocols.Length);
            foreach (var protocol in config.Common.AlpnProtocols)
            {
                _alpn.Add(new SslApplicationProtocol(protocol));
            }
        }

        _validator = new PeerCertificateValidator(config.Common.Validation);
        _cipherPolicy = CertificateLoader.CipherPolicy(config.Common.CipherSuites);
    }

    private readonly CipherSuitesPolicy? _cipherPolicy;

    public static DownstreamTlsContext For(DownstreamTlsConfig config) => Compiled.GetValue(config, static c => new DownstreamTlsContext(c));

    /// <summary>Handshake options for one connection; <paramref name="stats"/> counts its verification failures.</summary>
    /// <param name="offeredAlpn">The client's ALPN list as the TLS inspector read it; null when unknown.</param>
    public SslServerAuthenticationOptions CreateOptions(string? serverName, string[]? offeredAlpn, TlsStats stats)
    {
        var validator = _validator;
        var require = _config.RequireClientCertificate;
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SelectCertificate(serverName),
            EnabledSslProtocols = _config.Common.Protocols,
            CipherSuitesPolicy = _cipherPolicy,
            ApplicationProtocols = AlpnFor(offeredAlpn),

            // Envoy asks for a client certificate whenever it could verify one; it refuses a missing one only when required.
            ClientCertificateRequired = require || validator.Verifies,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                if (certificate is null && !require)
                {
                    return true;
                }

                return Count(validator.Verify(certificate, chain), stats);
            },
        };
    }

    /// <summary>
    /// Envoy (BoringSSL) carries on without ALPN when the client offers none of the configured protocols (Istio's
    /// clients offer "istio-peer-exchange", "istio"); .NET's server would fail the handshake instead, so no list is
    /// offered on such a connection.
    /// </summary>
    private List<SslApplicationProtocol>? AlpnFor(string[]? offered)
    {
        if (_alpn is null || offered is null || offered.Length == 0)
        {
            return _alpn;
        }

        foreach (var protocol in offered)
        {
            if (_config.Common.AlpnProtocols.Contains(protocol))
            {
                return _alpn;
            }
        }

        return NoAlpn;
    }

    /// <summary>Empty, not null: Kestrel fills a null list with h2/http1.1; an empty one makes the server ignore the client's ALPN.</summary>
    private static readonly List<SslApplicationProtocol> NoAlpn = [];

    internal static bool Count(PeerVerifyResult result, TlsStats stats)
    {
        switch (result)
        {
            case PeerVerifyResult.Ok:
                return true;
            case PeerVerifyResult.NoCertificate:
                stats.OnFailVerifyNoCert();
                return false;
            case PeerVerifyResult.SanMismatch:
                stats.OnFailVerifySan();
                return false;
            default:
                stats.OnFailVerifyError();
                return false;
        }
    }

    /// <summary>
    /// Envoy's selection among several certificates: the first whose DNS SANs cover the SNI (exact, then wildcard),
    /// else the first one.
    /// </summary>
    private SslStreamCertificateContext SelectCertificate(string? serverName)
    {
        if (_certificates.Length == 1 || string.IsNullOrEmpty(serverName))
        {
            return _certificates[0];
        }

        for (var i = 0; i < _certificates.Length; i++)
        {
            foreach (var (type, value) in _certificateNames[i])
            {
                if (type == SanType.Dns && string.Equals(value, serverName, StringComparison.OrdinalIgnoreCase))
                {
                    return _certificates[i];
                }
            }
        }

        for (var i = 0; i < _certificates.Length; i++)
        {
            foreach (var (type, value) in _certificateNames[i])
            {
                if (type == SanType.Dns && PeerCertificateValidator.WildcardCovers(value, serverName))
                {
                    return _certificates[i];
                }
            }
        }

        return _certificates[0];
    }
}
