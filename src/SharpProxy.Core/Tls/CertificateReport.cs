using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Tls;

/// <summary>
/// Envoy's /certs admin output: one entry per TLS context in use (listener filter chains, then clusters and their
/// transport_socket_matches), each with ca_cert and cert_chain details in Envoy's field names.
/// </summary>
internal static class CertificateReport
{
    public static Dictionary<string, object> Build(ProxyConfig config, DateTimeOffset now)
    {
        var entries = new List<object>();
        foreach (var listener in config.Listeners)
        {
            foreach (var chain in listener.FilterChains)
            {
                if (chain.Tls is { } tls)
                {
                    entries.Add(Entry(tls.Common, now));
                }
            }
        }

        foreach (var cluster in config.Clusters)
        {
            if (cluster.Tls is { } tls)
            {
                entries.Add(Entry(tls.Common, now));
            }

            foreach (var match in cluster.TransportSocketMatches)
            {
                if (match.Tls is { } matchTls)
                {
                    entries.Add(Entry(matchTls.Common, now));
                }
            }
        }

        return new Dictionary<string, object> { ["certificates"] = entries };
    }

    private static Dictionary<string, object> Entry(CommonTlsConfig common, DateTimeOffset now)
    {
        var ca = new List<object>();
        if (common.Validation is { TrustedCa.IsDefaultOrEmpty: false } validation)
        {
            // Envoy describes the first CA of the bundle.
            ca.Add(Details(validation.TrustedCa[0], validation.TrustedCaSource ?? "<inline>", now));
        }

        var chain = new List<object>();
        foreach (var certificate in common.Certificates)
        {
            chain.Add(Details(certificate.Certificate, certificate.Source, now));
        }

        return new Dictionary<string, object> { ["ca_cert"] = ca, ["cert_chain"] = chain };
    }

    private static Dictionary<string, object> Details(X509Certificate2 certificate, string path, DateTimeOffset now)
    {
        var names = new List<object>();
        foreach (var (type, value) in SubjectAltNames.Read(certificate))
        {
            names.Add(new Dictionary<string, string> { [SubjectAltNames.Describe(type)] = value });
        }

        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var days = notAfter <= now ? 0 : (long)(notAfter - now).TotalDays;
        return new Dictionary<string, object>
        {
            ["path"] = path,
            ["serial_number"] = certificate.SerialNumber.ToLowerInvariant(),
            ["subject_alt_names"] = names,

            // A uint64 in Envoy's proto JSON: a string.
            ["days_until_expiration"] = days.ToString(CultureInfo.InvariantCulture),
            ["valid_from"] = notBefore.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["expiration_time"] = notAfter.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        };
    }
}
