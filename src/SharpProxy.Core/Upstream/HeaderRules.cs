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
}
