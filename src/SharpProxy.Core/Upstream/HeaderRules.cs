using System.Collections.Frozen;

namespace SharpProxy.Core.Upstream;

/// <summary>Which headers cross the proxy: hop-by-hop headers stay on their hop, as Envoy strips them.</summary>
internal static class HeaderRules
{
    private static readonly FrozenSet<string> ContentHeaders = FrozenSet.ToFrozenSet(
        ["Allow", "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Location", "Content-MD5", "Content-Range", "Content-Type", "Expires", "Last-Modified"],
        StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE and HTTP2-Settings, any case. A switch on
    /// the length: the fast path asks for every request header, and most names are ruled out by their length alone.
    /// </summary>
    public static bool IsHopByHop(string name) => name.Length switch
    {
        2 => Is(name, "te"),
        7 => Is(name, "upgrade"),
        10 => Is(name, "connection") || Is(name, "keep-alive"),
        14 => Is(name, "http2-settings"),
        16 => Is(name, "proxy-connection"),
        17 => Is(name, "transfer-encoding"),
        _ => false,
    };

    /// <summary>The same list for a name still in the bytes of an HTTP/1.1 head (the fast paths' response heads).</summary>
    public static bool IsHopByHop(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 => System.Text.Ascii.EqualsIgnoreCase(name, "te"u8),
        7 => System.Text.Ascii.EqualsIgnoreCase(name, "upgrade"u8),
        10 => System.Text.Ascii.EqualsIgnoreCase(name, "connection"u8) || System.Text.Ascii.EqualsIgnoreCase(name, "keep-alive"u8),
        14 => System.Text.Ascii.EqualsIgnoreCase(name, "http2-settings"u8),
        16 => System.Text.Ascii.EqualsIgnoreCase(name, "proxy-connection"u8),
        17 => System.Text.Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8),
        _ => false,
    };

    public static bool IsContentHeader(string name) => ContentHeaders.Contains(name);

    private static bool Is(string name, string literal) =>
        ReferenceEquals(name, literal) || string.Equals(name, literal, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the Connection header's token list names <paramref name="name"/> (RFC 9110 7.6.1: not forwarded).</summary>
    public static bool IsNominatedBy(string connection, string name)
    {
        var rest = connection.AsSpan();
        while (rest.Length > 0)
        {
            var comma = rest.IndexOf(',');
            var token = (comma < 0 ? rest : rest[..comma]).Trim();
            if (token.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            if (comma < 0)
            {
                break;
            }

            rest = rest[(comma + 1)..];
        }

        return false;
    }
}
