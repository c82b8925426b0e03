using System.Collections.Frozen;

namespace SharpProxy.Core.Upstream;

/// <summary>Which headers cross the proxy: hop-by-hop headers stay on their hop, as Envoy strips them.</summary>
internal static class HeaderRules
{
    private static readonly FrozenSet<string> HopByHop = FrozenSet.ToFrozenSet(
        ["Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "TE", "HTTP2-Settings"],
        StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenSet<string> ContentHeaders = FrozenSet.ToFrozenSet(
        ["Allow", "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Location", "Content-MD5", "Content-Range", "Content-Type", "Expires", "Last-Modified"],
        StringComparer.OrdinalIgnoreCase);

    public static bool IsHopByHop(string name) => HopByHop.Contains(name);

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
