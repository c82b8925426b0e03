using System.Globalization;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Routing;

/// <summary>
/// Envoy's prefix_rewrite and redirect URI construction (config_impl.cc rewritePathByPrefixOrRegex / finalizePathHeaderForRedirect,
/// http/utility.cc newUri and processRequestHost).
/// </summary>
internal static class PathRewriter
{
    /// <summary>
    /// Replaces the matched part of <paramref name="path"/> with <paramref name="prefixRewrite"/>: the prefix for prefix and
    /// path_separated_prefix routes, the exact path for path routes, the whole path (up to '?' or '#') for safe_regex routes.
    /// An empty rewrite means no rewrite. As in Envoy, a rewrite that drops or doubles a '/' is not corrected
    /// (prefix "/foo" rewritten to "/" turns "/foo/bar" into "//bar").
    /// </summary>
    public static string RewritePrefix(string path, RouteMatchConfig match, string prefixRewrite)
    {
        if (string.IsNullOrEmpty(prefixRewrite))
        {
            return path;
        }

        var matchedLength = match.Kind == PathMatchKind.SafeRegex
            ? CompiledRoute.PathForMatching(path).Length
            : (match.Value ?? "").Length;
        matchedLength = Math.Min(matchedLength, path.Length);
        return string.Concat(prefixRewrite, path.AsSpan(matchedLength));
    }

    /// <summary>Envoy's RedirectAction.RedirectResponseCode values.</summary>
    public static bool IsValidRedirectResponseCode(int code) => code is 301 or 302 or 303 or 307 or 308;

    /// <summary>
    /// The Location of a redirect route, as Envoy builds it:
    /// <list type="number">
    /// <item>prefix_rewrite (redirect) is applied to the request path first;</item>
    /// <item>scheme: the redirect's (https_redirect arrives as scheme "https"), else the request's;</item>
    /// <item>port: ":port" when port_redirect is set;</item>
    /// <item>host: host_redirect as given, else the request authority with its port dropped when a port_redirect is set, or when
    ///   the scheme changes and the port is the old scheme's default (":80" for http, ":443" for https);</item>
    /// <item>path: path_redirect, keeping the request query unless path_redirect has its own; else the (rewritten) request path
    ///   with its query; a leading '/' is added when missing;</item>
    /// <item>strip_query drops the query, except one that comes from path_redirect.</item>
    /// </list>
    /// </summary>
    /// <param name="scheme">The request scheme ("http"/"https"); also used as x-forwarded-proto for the port rule.</param>
    public static string BuildRedirectLocation(RedirectConfig redirect, string scheme, string authority, string path, string query, RouteMatchConfig match)
    {
        scheme ??= "";
        authority ??= "";
        path ??= "";
        query ??= "";

        var finalScheme = string.IsNullOrEmpty(redirect.Scheme) ? scheme : redirect.Scheme;
        var finalPort = redirect.Port is > 0 ? ":" + redirect.Port.Value.ToString(CultureInfo.InvariantCulture) : "";
        var finalHost = string.IsNullOrEmpty(redirect.Host) ? ProcessRequestHost(authority, finalScheme, finalPort, scheme) : redirect.Host;

        var hasQuery = query.Length > 0;
        string finalPath;
        var pathRedirectHasQuery = false;
        if (!string.IsNullOrEmpty(redirect.Path))
        {
            pathRedirectHasQuery = redirect.Path.Contains('?', StringComparison.Ordinal);
            finalPath = pathRedirectHasQuery || !hasQuery ? redirect.Path : string.Concat(redirect.Path, "?", query);
        }
        else
        {
            var rewritten = string.IsNullOrEmpty(redirect.PrefixRewrite) ? path : RewritePrefix(path, match, redirect.PrefixRewrite);
            finalPath = hasQuery ? string.Concat(rewritten, "?", query) : rewritten;
        }

        if (!finalPath.StartsWith('/'))
        {
            finalPath = "/" + finalPath;
        }

        if (!pathRedirectHasQuery && redirect.StripQuery)
        {
            var end = finalPath.IndexOf('?', StringComparison.Ordinal);
            if (end >= 0)
            {
                finalPath = finalPath[..end];
            }
        }

        return string.Concat(finalScheme, "://", finalHost, finalPort, finalPath);
    }

    /// <summary>Envoy's processRequestHost.</summary>
    internal static string ProcessRequestHost(string authority, string newScheme, string newPort, string requestProtocol)
    {
        if (authority.Length == 0)
        {
            return authority;
        }

        int hostEnd;
        if (authority[0] == '[')
        {
            hostEnd = authority.LastIndexOf("]:", StringComparison.Ordinal);
            if (hostEnd >= 0)
            {
                hostEnd += 1;
            }
        }
        else
        {
            hostEnd = authority.LastIndexOf(':');
        }

        if (hostEnd >= 0)
        {
            var requestPort = authority.AsSpan(hostEnd);
            var removePort = newPort.Length > 0;
            if (!string.Equals(newScheme, requestProtocol, StringComparison.Ordinal))
            {
                removePort |= requestProtocol == "https" && requestPort.SequenceEqual(":443");
                removePort |= requestProtocol == "http" && requestPort.SequenceEqual(":80");
            }

            if (removePort)
            {
                return authority[..hostEnd];
            }
        }

        return authority;
    }
}
