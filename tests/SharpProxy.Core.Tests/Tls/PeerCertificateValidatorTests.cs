using SharpProxy.Core.Configuration;
using SharpProxy.Core.Tls;
using SharpProxy.Testing;

namespace SharpProxy.Core.Tests.Tls;

/// <summary>Chain to the configured CA only, then SAN matchers by type (URI for SPIFFE ids, DNS with wildcard SANs).</summary>
public sealed class PeerCertificateValidatorTests : IDisposable
{
    private readonly TestCertificates _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void SubjectAltNames_Read_DnsAndUri()
    {
        var certificate = _pki.Issue("w", dnsNames: ["a.example.com"], uris: ["spiffe://cluster.local/ns/default/sa/w"]).Certificate;

        var names = SubjectAltNames.Read(certificate);

        Assert.Equal([(SanType.Dns, "a.example.com"), (SanType.Uri, "spiffe://cluster.local/ns/default/sa/w")], names);
    }

    [Fact]
    public void Verify_SpiffeUriMatcher_AcceptsThatIdentityOnly()
    {
        var validator = Validator(new SanMatcherConfig(SanType.Uri, new StringMatcherConfig(StringMatchKind.Exact, "spiffe://cluster.local/ns/default/sa/client")));
        var good = _pki.Issue("good", uris: ["spiffe://cluster.local/ns/default/sa/client"], server: false).Certificate;
        var other = _pki.Issue("other", uris: ["spiffe://cluster.local/ns/default/sa/other"], server: false).Certificate;

        Assert.Equal(PeerVerifyResult.Ok, validator.Verify(good, null));
        Assert.Equal(PeerVerifyResult.SanMismatch, validator.Verify(other, null));
        Assert.Equal(PeerVerifyResult.NoCertificate, validator.Verify(null, null));
    }

    [Fact]
    public void Verify_DnsMatcherOnUriSan_TypeMustMatch()
    {
        var validator = Validator(new SanMatcherConfig(SanType.Dns, new StringMatcherConfig(StringMatchKind.Prefix, "spiffe://")));
        var certificate = _pki.Issue("u", uris: ["spiffe://cluster.local/ns/default/sa/u"]).Certificate;

        Assert.Equal(PeerVerifyResult.SanMismatch, validator.Verify(certificate, null));
    }

    [Fact]
    public void Verify_WildcardDnsSan_CoversOneLabelForExactMatcher()
    {
        var validator = Validator(new SanMatcherConfig(SanType.Dns, new StringMatcherConfig(StringMatchKind.Exact, "api.example.com")));

        Assert.Equal(PeerVerifyResult.Ok, validator.Verify(_pki.Issue("wild", dnsNames: ["*.example.com"]).Certificate, null));
        Assert.Equal(PeerVerifyResult.SanMismatch, validator.Verify(_pki.Issue("deep", dnsNames: ["*.other.com"]).Certificate, null));
    }

    [Fact]
    public void Verify_ExpiredOrForeignCertificate_ChainError()
    {
        var validator = Validator();
        var expired = _pki.Issue("expired", dnsNames: ["a"], notBefore: DateTimeOffset.UtcNow.AddDays(-5), notAfter: DateTimeOffset.UtcNow.AddDays(-1)).Certificate;
        var selfSigned = _pki.Issue("self", dnsNames: ["a"], selfSigned: true).Certificate;

        Assert.Equal(PeerVerifyResult.ChainError, validator.Verify(expired, null));
        Assert.Equal(PeerVerifyResult.ChainError, validator.Verify(selfSigned, null));
        Assert.Equal(PeerVerifyResult.Ok, validator.Verify(_pki.Issue("fine", dnsNames: ["a"]).Certificate, null));
    }

    [Fact]
    public void Verify_NoValidationContext_AcceptsAnyPresentedCertificate()
    {
        var validator = new PeerCertificateValidator(null);

        Assert.False(validator.Verifies);
        Assert.Equal(PeerVerifyResult.Ok, validator.Verify(_pki.Issue("x", selfSigned: true).Certificate, null));
    }

    private PeerCertificateValidator Validator(params SanMatcherConfig[] matchers) => new(new CertificateValidationConfig
    {
        TrustedCa = [_pki.Ca],
        SanMatchers = [.. matchers],
    });
}
