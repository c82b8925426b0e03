using System.Security.Cryptography.X509Certificates;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;

namespace SharpProxy.Core.Tls;

/// <summary>Why a peer certificate was refused; maps to Envoy's ssl.fail_verify_* counters.</summary>
internal enum PeerVerifyResult
{
    Ok,
    NoCertificate,
    ChainError,
    SanMismatch,
}

/// <summary>
/// Envoy's certificate validation for one validation context: chain to the trusted CAs (not the system store), then
/// the SAN matchers (any one matching is enough). SslStream's own policy errors are ignored on purpose: without
/// trusted_ca Envoy does not verify at all, and it never checks the SNI against the certificate unless told to.
/// </summary>
internal sealed class PeerCertificateValidator
{
    private readonly CertificateValidationConfig? _config;
    private readonly X509Certificate2Collection _trusted = [];
    private readonly (SanType Type, CompiledStringMatcher Matcher)[] _sanMatchers;

    public PeerCertificateValidator(CertificateValidationConfig? config)
    {
        _config = config;
        if (config is not null)
        {
            foreach (var ca in config.TrustedCa)
            {
                _trusted.Add(ca);
            }
        }

        var matchers = config?.SanMatchers ?? [];
        _sanMatchers = new (SanType, CompiledStringMatcher)[matchers.Length];
        for (var i = 0; i < matchers.Length; i++)
        {
            _sanMatchers[i] = (matchers[i].Type, new CompiledStringMatcher(matchers[i].Matcher));
        }
    }

    /// <summary>True when a presented certificate must be checked (trusted CAs or SAN matchers are configured).</summary>
    public bool Verifies => _trusted.Count > 0 || _sanMatchers.Length > 0;

    public PeerVerifyResult Verify(X509Certificate? presented, X509Chain? presentedChain)
    {
        if (presented is null)
        {
            return PeerVerifyResult.NoCertificate;
        }

        if (!Verifies)
        {
            return PeerVerifyResult.Ok;
        }

        var certificate = presented as X509Certificate2 ?? new X509Certificate2(presented);
        if (_trusted.Count > 0 && !ChainsToTrustedCa(certificate, presentedChain))
        {
            return PeerVerifyResult.ChainError;
        }

        if (_sanMatchers.Length > 0 && !SanMatches(certificate))
        {
            return PeerVerifyResult.SanMismatch;
        }

        return PeerVerifyResult.Ok;
    }

    private bool ChainsToTrustedCa(X509Certificate2 certificate, X509Chain? presentedChain)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presentedChain is not null)
        {
            // Intermediates the peer sent.
            foreach (var element in presentedChain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, certificate))
                {
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }
        }

        return chain.Build(certificate);
    }

    private bool SanMatches(X509Certificate2 certificate)
    {
        var names = SubjectAltNames.Read(certificate);
        foreach (var (type, matcher) in _sanMatchers)
        {
            foreach (var (nameType, value) in names)
            {
                if (type != SanType.Any && type != nameType)
                {
                    continue;
                }

                if (matcher.Matches(value))
                {
                    return true;
                }

                // A wildcard DNS SAN ("*.example.com") covers one label: an exact matcher for "api.example.com" accepts it.
                if (nameType == SanType.Dns && matcher.Config.Kind == StringMatchKind.Exact && WildcardCovers(value, matcher.Config.Value))
                {
                    return true;
                }
            }
        }

        return false;
    }

    internal static bool WildcardCovers(string wildcard, string name)
    {
        if (!wildcard.StartsWith("*.", StringComparison.Ordinal))
        {
            return false;
        }

        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && string.Equals(name[dot..], wildcard[1..], StringComparison.OrdinalIgnoreCase);
    }
}
