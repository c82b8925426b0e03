using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Tls;

/// <summary>
/// Reads a certificate's subjectAltName extension (RFC 5280 GeneralNames) including URI names, which .NET's
/// X509SubjectAlternativeNameExtension does not enumerate (SPIFFE identities are URI SANs).
/// </summary>
internal static class SubjectAltNames
{
    private const string SubjectAltNameOid = "2.5.29.17";

    public static List<(SanType Type, string Value)> Read(X509Certificate2 certificate)
    {
        var names = new List<(SanType, string)>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != SubjectAltNameOid)
            {
                continue;
            }

            try
            {
                var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER);
                var sequence = reader.ReadSequence();
                while (sequence.HasData)
                {
                    var tag = sequence.PeekTag();
                    if (tag.TagClass != TagClass.ContextSpecific)
                    {
                        sequence.ReadEncodedValue();
                        continue;
                    }

                    switch (tag.TagValue)
                    {
                        case 1:
                            names.Add((SanType.Email, sequence.ReadCharacterString(UniversalTagNumber.IA5String, tag)));
                            break;
                        case 2:
                            names.Add((SanType.Dns, sequence.ReadCharacterString(UniversalTagNumber.IA5String, tag)));
                            break;
                        case 6:
                            names.Add((SanType.Uri, sequence.ReadCharacterString(UniversalTagNumber.IA5String, tag)));
                            break;
                        case 7:
                            var bytes = sequence.ReadOctetString(tag);
                            if (bytes.Length is 4 or 16)
                            {
                                names.Add((SanType.IpAddress, new IPAddress(bytes).ToString()));
                            }

                            break;
                        default:
                            sequence.ReadEncodedValue();
                            break;
                    }
                }
            }
            catch (AsnContentException)
            {
                // A malformed extension yields the names read so far; matching then fails closed.
            }
        }

        return names;
    }

    /// <summary>The "TYPE:value" strings Envoy's /certs shows in subject_alt_names.</summary>
    public static string Describe(SanType type) => type switch
    {
        SanType.Email => "email",
        SanType.Dns => "dns",
        SanType.Uri => "uri",
        SanType.IpAddress => "ip_address",
        _ => "other",
    };
}
