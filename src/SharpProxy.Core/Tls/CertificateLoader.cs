using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Tls;

/// <summary>Loads PEM certificates and keys (Envoy's DataSource content) into X509 objects, reporting problems as text.</summary>
internal static class CertificateLoader
{
    /// <summary>
    /// A certificate chain (leaf first, then intermediates) and its private key. Null with <paramref name="error"/> set
    /// when the PEM holds no certificate, the key is missing or does not belong to the leaf.
    /// </summary>
    public static TlsCertificateConfig? LoadCertificate(string chainPem, string keyPem, string source, out string? error)
    {
        error = null;
        var chain = new X509Certificate2Collection();
        try
        {
            chain.ImportFromPem(chainPem);
        }
        catch (CryptographicException ex)
        {
            error = "certificate_chain is not valid PEM: " + ex.Message;
            return null;
        }

        if (chain.Count == 0)
        {
            error = "certificate_chain holds no PEM certificate";
            return null;
        }

        X509Certificate2 leaf;
        try
        {
            // The leaf is the first certificate of the chain (as in Envoy); CreateFromPem pairs the first one with the key.
            leaf = X509Certificate2.CreateFromPem(chainPem, keyPem);
        }
        catch (CryptographicException ex)
        {
            error = "private_key does not load or does not match the certificate: " + ex.Message;
            return null;
        }
        catch (ArgumentException ex)
        {
            error = "private_key is not a PEM private key: " + ex.Message;
            return null;
        }

        var intermediates = ImmutableArray.CreateBuilder<X509Certificate2>(chain.Count - 1);
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }

        chain[0].Dispose();
        return new TlsCertificateConfig(leaf, intermediates.MoveToImmutable(), source);
    }

    /// <summary>
    /// The CipherSuitesPolicy for configured TLS 1.2 suites, with the TLS 1.3 suites added (Envoy's cipher_suites do
    /// not touch TLS 1.3; a .NET policy covers both). Null when none are configured.
    /// </summary>
    public static System.Net.Security.CipherSuitesPolicy? CipherPolicy(ImmutableArray<System.Net.Security.TlsCipherSuite> suites)
    {
        // The translator refused cipher_suites where .NET cannot restrict them (Windows).
        if (suites.IsDefaultOrEmpty || OperatingSystem.IsWindows())
        {
            return null;
        }

        var all = new List<System.Net.Security.TlsCipherSuite>(suites.Length + 3)
        {
            System.Net.Security.TlsCipherSuite.TLS_AES_256_GCM_SHA384,
            System.Net.Security.TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
            System.Net.Security.TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        };
        all.AddRange(suites);
        return new System.Net.Security.CipherSuitesPolicy(all);
    }

    /// <summary>Every certificate of a PEM bundle (trusted_ca); null with <paramref name="error"/> when there is none.</summary>
    public static ImmutableArray<X509Certificate2>? LoadBundle(string pem, out string? error)
    {
        error = null;
        var bundle = new X509Certificate2Collection();
        try
        {
            bundle.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            error = "not valid PEM: " + ex.Message;
            return null;
        }

        if (bundle.Count == 0)
        {
            error = "holds no PEM certificate";
            return null;
        }

        var result = ImmutableArray.CreateBuilder<X509Certificate2>(bundle.Count);
        foreach (var certificate in bundle)
        {
            result.Add(certificate);
        }

        return result.MoveToImmutable();
    }
}
