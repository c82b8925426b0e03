using System.Collections.Immutable;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Serialization;

namespace SharpProxy.Core.Configuration;

/// <summary>
/// A certificate with its private key (Envoy's TlsCertificate), loaded when the config was translated.
/// <see cref="Source"/> names where it came from (a file path, or "inline") for errors and /certs.
/// </summary>
/// <remarks>
/// The X509 objects are left out of JSON (the snapshot compiler fingerprints cluster configs as JSON); the thumbprints
/// stand for them, so a rotated certificate changes the fingerprint.
/// </remarks>
internal sealed record TlsCertificateConfig(
    [property: JsonIgnore] X509Certificate2 Certificate,
    [property: JsonIgnore] ImmutableArray<X509Certificate2> Intermediates,
    string Source)
{
    public string Thumbprint => Certificate.Thumbprint;
}

/// <summary>Envoy's SubjectAltNameMatcher san_type; <see cref="Any"/> is the deprecated match_subject_alt_names (every SAN type).</summary>
internal enum SanType
{
    Any,
    Email,
    Dns,
    Uri,
    IpAddress,
}

internal sealed record SanMatcherConfig(SanType Type, StringMatcherConfig Matcher);

/// <summary>Envoy's CertificateValidationContext subset: trusted CAs and SAN matchers.</summary>
internal sealed record CertificateValidationConfig
{
    /// <summary>Empty: a presented peer certificate is not verified (Envoy's behaviour without trusted_ca).</summary>
    [JsonIgnore]
    public ImmutableArray<X509Certificate2> TrustedCa { get; init; } = [];

    /// <summary>Stands for <see cref="TrustedCa"/> in the JSON fingerprint.</summary>
    public string TrustedCaThumbprints
    {
        get
        {
            var text = new System.Text.StringBuilder();
            foreach (var ca in TrustedCa.IsDefault ? [] : TrustedCa)
            {
                text.Append(ca.Thumbprint).Append(',');
            }

            return text.ToString();
        }
    }

    /// <summary>Where <see cref="TrustedCa"/> came from (a path, "inline", or "sds:NAME").</summary>
    public string? TrustedCaSource { get; init; }

    /// <summary>Any one matching is enough; empty = no SAN check.</summary>
    public ImmutableArray<SanMatcherConfig> SanMatchers { get; init; } = [];
}

/// <summary>Envoy's CommonTlsContext subset.</summary>
internal sealed record CommonTlsConfig
{
    /// <summary>The protocol versions allowed (tls_params; Envoy's defaults: TLS 1.2 minimum, 1.3 maximum for servers, 1.2 for clients).</summary>
    public SslProtocols Protocols { get; init; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    public ImmutableArray<TlsCertificateConfig> Certificates { get; init; } = [];

    public CertificateValidationConfig? Validation { get; init; }

    public ImmutableArray<string> AlpnProtocols { get; init; } = [];

    /// <summary>tls_params.cipher_suites for TLS 1.2 (empty: .NET's defaults); TLS 1.3 suites stay as they are, as in Envoy.</summary>
    public ImmutableArray<System.Net.Security.TlsCipherSuite> CipherSuites { get; init; } = [];
}

/// <summary>A filter chain's transport_socket envoy.transport_sockets.tls with a DownstreamTlsContext.</summary>
internal sealed record DownstreamTlsConfig
{
    public required CommonTlsConfig Common { get; init; }

    public bool RequireClientCertificate { get; init; }
}

/// <summary>A cluster's transport_socket envoy.transport_sockets.tls with an UpstreamTlsContext.</summary>
internal sealed record UpstreamTlsConfig
{
    public required CommonTlsConfig Common { get; init; }

    /// <summary>The SNI sent; null sends none (Envoy sends none unless sni is set).</summary>
    public string? Sni { get; init; }
}

/// <summary>
/// One cluster transport_socket_matches entry: an endpoint whose <c>envoy.transport_socket_match</c> metadata holds every
/// key/value of <see cref="Match"/> uses <see cref="Tls"/> (null = plaintext raw_buffer). First match wins.
/// </summary>
internal sealed record TransportSocketMatchConfig(string Name, ImmutableDictionary<string, string> Match, UpstreamTlsConfig? Tls);
