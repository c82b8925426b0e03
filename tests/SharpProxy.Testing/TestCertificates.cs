using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SharpProxy.Testing;

/// <summary>A certificate with its key, and where its PEM files were written.</summary>
public sealed record TestCertificate(X509Certificate2 Certificate, string CertificatePath, string KeyPath);

/// <summary>
/// A throwaway PKI for TLS tests: a test CA issuing server/client certificates with chosen DNS and URI SANs and validity,
/// each written as PEM files (certificate, key) into a temp directory deleted on dispose.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly ECDsa _caKey;

    public TestCertificates()
    {
        Directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sharpproxy-tls-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);
        _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=SharpProxy Test CA", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(365));
        CaPath = Write("ca.pem", Ca.ExportCertificatePem());
    }

    public string Directory { get; }

    public X509Certificate2 Ca { get; }

    public string CaPath { get; }

    /// <summary>Issues a leaf certificate signed by the test CA (or self-signed when <paramref name="selfSigned"/>).</summary>
    public TestCertificate Issue(
        string name,
        IEnumerable<string>? dnsNames = null,
        IEnumerable<string>? uris = null,
        bool server = true,
        DateTimeOffset? notBefore = null,
        DateTimeOffset? notAfter = null,
        bool selfSigned = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var dns in dnsNames ?? [])
        {
            san.AddDnsName(dns);
        }

        foreach (var uri in uris ?? [])
        {
            san.AddUri(new Uri(uri));
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [server ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2"), server ? new Oid("1.3.6.1.5.5.7.3.2") : new Oid("1.3.6.1.5.5.7.3.1")],
            false));
        var from = notBefore ?? DateTimeOffset.UtcNow.AddDays(-1);
        var to = notAfter ?? DateTimeOffset.UtcNow.AddDays(10);
        X509Certificate2 withKey;
        if (selfSigned)
        {
            withKey = request.CreateSelfSigned(from, to);
        }
        else
        {
            var serial = RandomNumberGenerator.GetBytes(12);
            serial[0] &= 0x7f;
            using var issued = request.Create(Ca, from, to, serial);
            withKey = issued.CopyWithPrivateKey(key);
        }

        var certificatePath = Write(name + ".pem", withKey.ExportCertificatePem());
        var keyPath = Write(name + "-key.pem", key.ExportPkcs8PrivateKeyPem());
        return new TestCertificate(withKey, certificatePath, keyPath);
    }

    public void Dispose()
    {
        _caKey.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string Write(string fileName, string pem)
    {
        var path = System.IO.Path.Combine(Directory, fileName);
        File.WriteAllText(path, pem);
        return path;
    }
}
