using Microsoft.AspNetCore.Http;

namespace SharpProxy.Core.Routing;

/// <summary>
/// What route matching looks at. Built once per request by the pipeline; passed by <c>in</c> so it is never copied.
/// </summary>
/// <param name="Authority">Host / :authority as received (may include a port).</param>
/// <param name="Path">The raw path without the '?query' (a stray '?' or '#' is cut off before matching, as Envoy does).</param>
/// <param name="Query">The raw query without the '?', possibly empty.</param>
/// <param name="Headers">Request headers (case-insensitive names).</param>
/// <param name="IsGrpc">True when the content type is application/grpc[+...|;...] (Envoy's isGrpcRequestHeaders).</param>
/// <param name="Method">The request method, for header matchers on Envoy's <c>:method</c> pseudo-header (Istio uses them).
/// When null, <c>:method</c> is looked up in <paramref name="Headers"/>.</param>
/// <param name="Scheme">The request scheme, for header matchers on <c>:scheme</c>. When null it is looked up in
/// <paramref name="Headers"/>.</param>
internal readonly record struct RouteRequest(
    string Authority,
    string Path,
    string Query,
    IHeaderDictionary Headers,
    bool IsGrpc,
    string? Method = null,
    string? Scheme = null);

/// <summary>
/// The outcome of <see cref="CompiledRouteTable.Match"/>: a null <see cref="VirtualHost"/> means no virtual host matched the
/// authority; a null <see cref="Route"/> means the virtual host has no matching route. Both are Envoy's 404 NR.
/// </summary>
internal readonly record struct RouteMatchResult(CompiledVirtualHost? VirtualHost, CompiledRoute? Route)
{
    public bool IsMatch => Route is not null;
}
