using System.Collections.Immutable;
using System.Net.Security;
using System.Security.Authentication;
using System.Text;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Tls;
using CoreApi = SharpProxy.Xds.Api.Config.Core.V3;
using TlsApi = SharpProxy.Xds.Api.Extensions.TransportSockets.Tls.V3;

namespace SharpProxy.Xds.Translation;

/// <summary>
/// Envoy transport sockets -> TLS config records: DownstreamTlsContext (filter chains), UpstreamTlsContext (clusters).
/// Certificates and keys are loaded here, so a bad or missing file is a config error naming the file and the path.
/// </summary>
internal static class TlsTranslator
{
    public const string TlsTransportSocketName = "envoy.transport_sockets.tls";
    public const string DownstreamTlsContextType = "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
    public const string UpstreamTlsContextType = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
    public const string RawBufferType = "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";
    public const string RawBufferName = "envoy.transport_sockets.raw_buffer";

    /// <summary>A filter chain's transport_socket: null for raw_buffer (or absent), the TLS config otherwise.</summary>
    public static DownstreamTlsConfig? TranslateDownstream(CoreApi.TransportSocket? socket, string path, TranslationErrors errors)
    {
        if (!IsTls(socket, DownstreamTlsContextType, path, errors))
        {
            return null;
        }

        var context = socket!.TypedConfig.Unpack<TlsApi.DownstreamTlsContext>();
        var contextPath = path + ".typed_config";
        var common = TranslateCommon(context.CommonTlsContext, contextPath + ".common_tls_context", isServer: true, errors);
        if (common is null)
        {
            return null;
        }

        if (common.Certificates.IsDefaultOrEmpty)
        {
            errors.Add(contextPath + ".common_tls_context.tls_certificates", "a server TLS context needs a certificate (tls_certificates or tls_certificate_sds_secret_configs)");
            return null;
        }

        var require = context.RequireClientCertificate ?? false;
        if (require && common.Validation is null)
        {
            errors.Add(contextPath + ".require_client_certificate", "requires a validation context (trusted_ca) to verify the client certificate");
        }

        return new DownstreamTlsConfig { Common = common, RequireClientCertificate = require };
    }

    /// <summary>A cluster's (or transport_socket_matches entry's) transport_socket: null for raw_buffer or absent.</summary>
    public static UpstreamTlsConfig? TranslateUpstream(CoreApi.TransportSocket? socket, string path, TranslationErrors errors)
    {
        if (!IsTls(socket, UpstreamTlsContextType, path, errors))
        {
            return null;
        }

        var context = socket!.TypedConfig.Unpack<TlsApi.UpstreamTlsContext>();
        var contextPath = path + ".typed_config";
        var common = TranslateCommon(context.CommonTlsContext, contextPath + ".common_tls_context", isServer: false, errors);
        if (common is null)
        {
            return null;
        }

        if (common.Certificates.Length > 1)
        {
            errors.Add(contextPath + ".common_tls_context.tls_certificates", "a client TLS context takes a single certificate");
        }

        return new UpstreamTlsConfig { Common = common, Sni = context.Sni.Length > 0 ? context.Sni : null };
    }

    private static bool IsTls(CoreApi.TransportSocket? socket, string expectedType, string path, TranslationErrors errors)
    {
        if (socket is null)
        {
            return false;
        }

        if (socket.TypedConfig is null)
        {
            if (socket.Name == RawBufferName)
            {
                return false;
            }

            errors.Add(path + ".typed_config", $"transport socket '{socket.Name}' needs a typed_config");
            return false;
        }

        var type = ListenerTranslator.TypeName(socket.TypedConfig.TypeUrl);
        if (type == RawBufferType)
        {
            return false;
        }

        if (type != expectedType)
        {
            errors.Add(path + ".typed_config", $"transport socket type '{socket.TypedConfig.TypeUrl}' is not supported here (expected {expectedType} or {RawBufferType})");
            return false;
        }

        return true;
    }

    private static CommonTlsConfig? TranslateCommon(TlsApi.CommonTlsContext? common, string path, bool isServer, TranslationErrors errors)
    {
        common ??= new TlsApi.CommonTlsContext();
        var before = errors.All.Count;
        var missingBefore = (errors.Secrets as IDynamicSecretSource)?.Missing ?? 0;

        var protocols = TranslateProtocols(common.TlsParams, path + ".tls_params", isServer, errors);
        var cipherSuites = TranslateCipherSuites(common.TlsParams, path + ".tls_params.cipher_suites", errors);

        var certificates = ImmutableArray.CreateBuilder<TlsCertificateConfig>();
        for (var i = 0; i < common.TlsCertificates.Count; i++)
        {
            if (TranslateCertificate(common.TlsCertificates[i], path + ".tls_certificates[" + i + "]", "", errors) is { } certificate)
            {
                certificates.Add(certificate);
            }
        }

        if (common.TlsCertificates.Count == 0)
        {
            for (var i = 0; i < common.TlsCertificateSdsSecretConfigs.Count; i++)
            {
                var sdsPath = path + ".tls_certificate_sds_secret_configs[" + i + "]";
                var secret = FindSecret(common.TlsCertificateSdsSecretConfigs[i], sdsPath, errors);
                if (secret is null)
                {
                    continue;
                }

                if (secret.TypeCase != TlsApi.Secret.TypeOneofCase.TlsCertificate)
                {
                    errors.Add(sdsPath + ".name", $"secret '{secret.Name}' is not a tls_certificate");
                    continue;
                }

                if (TranslateCertificate(secret.TlsCertificate, sdsPath, " (secret '" + secret.Name + "')", errors, "sds:" + secret.Name) is { } certificate)
                {
                    certificates.Add(certificate);
                }
            }
        }

        CertificateValidationConfig? validation = null;
        switch (common.ValidationContextTypeCase)
        {
            case TlsApi.CommonTlsContext.ValidationContextTypeOneofCase.ValidationContext:
                validation = TranslateValidation(common.ValidationContext, path + ".validation_context", "", errors);
                break;
            case TlsApi.CommonTlsContext.ValidationContextTypeOneofCase.ValidationContextSdsSecretConfig:
                {
                    var sdsPath = path + ".validation_context_sds_secret_config";
                    validation = ValidationFromSecret(common.ValidationContextSdsSecretConfig, sdsPath, errors);
                    break;
                }

            case TlsApi.CommonTlsContext.ValidationContextTypeOneofCase.CombinedValidationContext:
                {
                    // Envoy merges the SDS context into the default one: singular fields from SDS win, lists concatenate.
                    var combinedPath = path + ".combined_validation_context";
                    var combined = common.CombinedValidationContext;
                    var defaults = TranslateValidation(combined.DefaultValidationContext ?? new TlsApi.CertificateValidationContext(), combinedPath + ".default_validation_context", "", errors);
                    var dynamic = combined.ValidationContextSdsSecretConfig is null
                        ? null
                        : ValidationFromSecret(combined.ValidationContextSdsSecretConfig, combinedPath + ".validation_context_sds_secret_config", errors);
                    if (combined.ValidationContextSdsSecretConfig is null)
                    {
                        errors.Add(combinedPath + ".validation_context_sds_secret_config", "is required");
                    }

                    validation = (defaults, dynamic) switch
                    {
                        (null, _) => dynamic,
                        (_, null) => defaults,
                        _ => defaults with
                        {
                            TrustedCa = dynamic.TrustedCa.IsDefaultOrEmpty ? defaults.TrustedCa : dynamic.TrustedCa,
                            TrustedCaSource = dynamic.TrustedCa.IsDefaultOrEmpty ? defaults.TrustedCaSource : dynamic.TrustedCaSource,
                            SanMatchers = defaults.SanMatchers.AddRange(dynamic.SanMatchers),
                        },
                    };
                    break;
                }
        }

        foreach (var protocol in common.AlpnProtocols)
        {
            if (protocol.Length is 0 or > 255)
            {
                errors.Add(path + ".alpn_protocols", $"'{protocol}' is not a valid ALPN protocol id (1 to 255 bytes)");
            }
        }

        if (errors.All.Count > before || ((errors.Secrets as IDynamicSecretSource)?.Missing ?? 0) > missingBefore)
        {
            return null;
        }

        return new CommonTlsConfig
        {
            CipherSuites = cipherSuites,
            Protocols = protocols,
            Certificates = certificates.ToImmutable(),
            Validation = validation,
            AlpnProtocols = [.. common.AlpnProtocols],
        };
    }

    /// <summary>OpenSSL/BoringSSL cipher names (as Envoy and Istio write them) -> the suites .NET can restrict TLS 1.2 to.</summary>
    private static readonly Dictionary<string, TlsCipherSuite> CipherNames = new(StringComparer.Ordinal)
    {
        ["ECDHE-ECDSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ["ECDHE-RSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ["ECDHE-ECDSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-RSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-ECDSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ["ECDHE-RSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ["AES128-GCM-SHA256"] = TlsCipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,
        ["AES256-GCM-SHA384"] = TlsCipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-ECDSA-AES128-SHA"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
        ["ECDHE-RSA-AES128-SHA"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        ["ECDHE-ECDSA-AES256-SHA"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
        ["ECDHE-RSA-AES256-SHA"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
        ["AES128-SHA"] = TlsCipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA,
        ["AES256-SHA"] = TlsCipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA,
    };

    private static ImmutableArray<TlsCipherSuite> TranslateCipherSuites(TlsApi.TlsParameters? parameters, string path, TranslationErrors errors)
    {
        if (parameters is null || parameters.CipherSuites.Count == 0)
        {
            return [];
        }

        var suites = ImmutableArray.CreateBuilder<TlsCipherSuite>();
        for (var i = 0; i < parameters.CipherSuites.Count; i++)
        {
            // "[A|B]" is BoringSSL's equal-preference group: .NET has none, so its members keep their order.
            foreach (var name in parameters.CipherSuites[i].Trim('[', ']').Split('|'))
            {
                if (CipherNames.TryGetValue(name.Trim(), out var suite))
                {
                    if (!suites.Contains(suite))
                    {
                        suites.Add(suite);
                    }
                }
                else
                {
                    errors.Add(path + "[" + i + "]", $"cipher '{name}' is not supported by SharpProxy (supported: {string.Join(", ", CipherNames.Keys)})");
                }
            }
        }

        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            errors.Add(path, ".NET cannot restrict cipher suites on this platform");
        }

        return suites.ToImmutable();
    }

    private static SslProtocols TranslateProtocols(TlsApi.TlsParameters? parameters, string path, bool isServer, TranslationErrors errors)
    {
        // Envoy's defaults: minimum TLS 1.2; maximum TLS 1.3 for servers, TLS 1.2 for clients.
        var minimum = parameters?.TlsMinimumProtocolVersion ?? TlsApi.TlsParameters.Types.TlsProtocol.TlsAuto;
        var maximum = parameters?.TlsMaximumProtocolVersion ?? TlsApi.TlsParameters.Types.TlsProtocol.TlsAuto;
        var min = minimum == TlsApi.TlsParameters.Types.TlsProtocol.TlsAuto ? 3 : (int)minimum;
        var max = maximum == TlsApi.TlsParameters.Types.TlsProtocol.TlsAuto ? (isServer ? 4 : 3) : (int)maximum;
        if (min < 3)
        {
            // .NET on Linux (OpenSSL at its default security level) refuses TLS 1.0/1.1; saying so beats silently not offering them.
            errors.Add(path + ".tls_minimum_protocol_version", $"{minimum} is not supported by SharpProxy (TLSv1_2 is the lowest version .NET offers here)");
        }

        if (max < min)
        {
            errors.Add(path + ".tls_maximum_protocol_version", $"{maximum} is below tls_minimum_protocol_version {minimum}");
            return SslProtocols.Tls12 | SslProtocols.Tls13;
        }

        var protocols = SslProtocols.None;
        if (min <= 3 && max >= 3)
        {
            protocols |= SslProtocols.Tls12;
        }

        if (max >= 4)
        {
            protocols |= SslProtocols.Tls13;
        }

        return protocols == SslProtocols.None ? SslProtocols.Tls12 : protocols;
    }

    private static TlsCertificateConfig? TranslateCertificate(TlsApi.TlsCertificate certificate, string path, string secretNote, TranslationErrors errors, string? inlineSource = null)
    {
        var chain = ReadDataSource(certificate.CertificateChain, path + ".certificate_chain", errors, out var chainSource);
        if (inlineSource is not null && chainSource == "<inline>")
        {
            chainSource = inlineSource;
        }

        var key = ReadDataSource(certificate.PrivateKey, path + ".private_key", errors, out _);
        if (chain is null || key is null)
        {
            return null;
        }

        // An inline PEM held by an unchanged resource (an SDS secret named by many listeners and clusters) is the same
        // string instance build after build: load it once, and keep the same objects (same fingerprint, same pools).
        var inline = chainSource.StartsWith('<') || chainSource.StartsWith("sds:", StringComparison.Ordinal);
        if (inline && InlineCertificates.TryGetValue(chain, out var cached) && ReferenceEquals(cached.Key, key) && cached.Certificate.Source == chainSource)
        {
            return cached.Certificate;
        }

        var loaded = CertificateLoader.LoadCertificate(chain, key, chainSource, out var error);
        if (loaded is null)
        {
            errors.Add(path, $"certificate from {chainSource}{secretNote}: {error}");
        }
        else if (inline)
        {
            InlineCertificates.AddOrUpdate(chain, new CachedCertificate(key, loaded));
        }

        return loaded;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<string, CachedCertificate> InlineCertificates = new();

    private sealed record CachedCertificate(string Key, TlsCertificateConfig Certificate);

    private static CertificateValidationConfig? TranslateValidation(TlsApi.CertificateValidationContext context, string path, string secretNote, TranslationErrors errors)
    {
        ImmutableArray<System.Security.Cryptography.X509Certificates.X509Certificate2> trusted = [];
        string? trustedSource = null;
        if (context.TrustedCa is not null)
        {
            var pem = ReadDataSource(context.TrustedCa, path + ".trusted_ca", errors, out var source);
            if (pem is not null)
            {
                var bundle = CertificateLoader.LoadBundle(pem, out var error);
                if (bundle is null)
                {
                    errors.Add(path + ".trusted_ca", $"{source}{secretNote}: {error}");
                }
                else
                {
                    trusted = bundle.Value;
                    trustedSource = source;
                }
            }
        }

        var matchers = ImmutableArray.CreateBuilder<SanMatcherConfig>();
        for (var i = 0; i < context.MatchTypedSubjectAltNames.Count; i++)
        {
            var typed = context.MatchTypedSubjectAltNames[i];
            var matcherPath = path + ".match_typed_subject_alt_names[" + i + "]";
            var type = typed.SanType switch
            {
                TlsApi.SubjectAltNameMatcher.Types.SanType.Email => SanType.Email,
                TlsApi.SubjectAltNameMatcher.Types.SanType.Dns => SanType.Dns,
                TlsApi.SubjectAltNameMatcher.Types.SanType.Uri => SanType.Uri,
                TlsApi.SubjectAltNameMatcher.Types.SanType.IpAddress => SanType.IpAddress,
                _ => (SanType?)null,
            };
            if (type is null)
            {
                errors.Add(matcherPath + ".san_type", "one of EMAIL, DNS, URI, IP_ADDRESS is required");
                continue;
            }

            if (ProtoConvert.StringMatcher(typed.Matcher, matcherPath + ".matcher", errors) is { } matcher)
            {
                matchers.Add(new SanMatcherConfig(type.Value, matcher));
            }
        }

        // Envoy ignores the deprecated list when the typed one is set.
        if (context.MatchTypedSubjectAltNames.Count == 0)
        {
            for (var i = 0; i < context.MatchSubjectAltNames.Count; i++)
            {
                if (ProtoConvert.StringMatcher(context.MatchSubjectAltNames[i], path + ".match_subject_alt_names[" + i + "]", errors) is { } matcher)
                {
                    matchers.Add(new SanMatcherConfig(SanType.Any, matcher));
                }
            }
        }

        return new CertificateValidationConfig
        {
            TrustedCa = trusted,
            TrustedCaSource = trustedSource,
            SanMatchers = matchers.ToImmutable(),
        };
    }

    private static CertificateValidationConfig? ValidationFromSecret(TlsApi.SdsSecretConfig config, string path, TranslationErrors errors)
    {
        var secret = FindSecret(config, path, errors);
        if (secret is null)
        {
            return null;
        }

        if (secret.TypeCase != TlsApi.Secret.TypeOneofCase.ValidationContext)
        {
            errors.Add(path + ".name", $"secret '{secret.Name}' is not a validation_context");
            return null;
        }

        return TranslateValidation(secret.ValidationContext, path, " (secret '" + secret.Name + "')", errors);
    }

    private static TlsApi.Secret? FindSecret(TlsApi.SdsSecretConfig config, string path, TranslationErrors errors)
    {
        if (config.Name.Length == 0)
        {
            errors.Add(path + ".name", "a secret name is required");
            return null;
        }

        if (config.SdsConfig is { } source)
        {
            if (source.ConfigSourceSpecifierCase != CoreApi.ConfigSource.ConfigSourceSpecifierOneofCase.Ads)
            {
                errors.NotYetSupported(path + ".sds_config", "an SDS config source other than ads: {} (a separate SDS gRPC cluster such as Istio's sds-grpc)");
                return null;
            }

            if (errors.Secrets is not IDynamicSecretSource dynamic)
            {
                errors.Add(path + ".sds_config", "SDS over ADS needs the bootstrap's dynamic_resources.ads_config");
                return null;
            }

            // Null while the secret has not arrived: the listener or cluster is warming, which is no error.
            return dynamic.FindDynamic(config.Name);
        }

        var secret = errors.Secrets?.Find(config.Name);
        if (secret is null)
        {
            errors.Add(path + ".name", $"no secret named '{config.Name}' in static_resources.secrets");
        }

        return secret;
    }

    /// <summary>The text of a DataSource (PEM); null with an error naming the file when it cannot be read.</summary>
    private static string? ReadDataSource(CoreApi.DataSource? source, string path, TranslationErrors errors, out string description)
    {
        description = "<inline>";
        switch (source?.SpecifierCase ?? CoreApi.DataSource.SpecifierOneofCase.None)
        {
            case CoreApi.DataSource.SpecifierOneofCase.Filename:
                description = source!.Filename;
                try
                {
                    return File.ReadAllText(source.Filename);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    errors.Add(path + ".filename", $"cannot read '{source.Filename}': {ex.Message}");
                    return null;
                }

            case CoreApi.DataSource.SpecifierOneofCase.InlineString:
                return source!.InlineString;
            case CoreApi.DataSource.SpecifierOneofCase.InlineBytes:
                return Encoding.UTF8.GetString(source!.InlineBytes.Span);
            case CoreApi.DataSource.SpecifierOneofCase.EnvironmentVariable:
                {
                    description = "$" + source!.EnvironmentVariable;
                    var value = Environment.GetEnvironmentVariable(source.EnvironmentVariable);
                    if (value is null)
                    {
                        errors.Add(path + ".environment_variable", $"environment variable '{source.EnvironmentVariable}' is not set");
                    }

                    return value;
                }

            default:
                errors.Add(path, "one of filename, inline_string, inline_bytes, environment_variable is required");
                return null;
        }
    }
}

/// <summary>The bootstrap's static_resources.secrets by name.</summary>
internal sealed class StaticSecrets(IEnumerable<TlsApi.Secret> secrets) : ISecretSource
{
    private readonly Dictionary<string, TlsApi.Secret> _byName = secrets.ToDictionary(s => s.Name, StringComparer.Ordinal);

    public TlsApi.Secret? Find(string name) => _byName.GetValueOrDefault(name);
}
