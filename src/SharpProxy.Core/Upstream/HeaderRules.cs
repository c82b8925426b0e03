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
