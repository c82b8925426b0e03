using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Filters;

/// <summary>
/// Envoy's CORS filter (envoy.filters.http.cors) at request time, as its cors_filter.cc behaves. The route's policy and
/// the virtual host's are merged field by field (the route's value wins where it sets one). A request with an Origin is
/// a CORS request; an OPTIONS one with Access-Control-Request-Method is a preflight, answered here with 200 and the
/// allow-* headers (nothing goes upstream) — unless the origin is not allowed and forward_not_matching_preflights
/// (default true) lets it through. Any other CORS request from an allowed origin goes upstream and its response gets
/// access-control-allow-origin (the request's origin), -allow-credentials and -expose-headers.
/// </summary>
internal static class Cors
{
    private const string AllowOrigin = "access-control-allow-origin";
    private const string AllowCredentials = "access-control-allow-credentials";
    private const string AllowMethods = "access-control-allow-methods";
    private const string AllowHeaders = "access-control-allow-headers";
    private const string ExposeHeaders = "access-control-expose-headers";
    private const string MaxAge = "access-control-max-age";
    private const string RequestMethod = "access-control-request-method";
    private const string RequestHeaders = "access-control-request-headers";

    /// <summary>True when the chain has the filter and the route or its virtual host has a policy.</summary>
    public static bool Applies(HttpConnectionManagerConfig http, VirtualHostConfig vhost, RouteConfig route) =>
        http.CorsFilter && (route.Cors is not null || vhost.Cors is not null);

    /// <summary>
    /// Runs the request side. Returns true when the request was answered here (a preflight); false when it goes on,
    /// in which case a request from an allowed origin has its response headers registered.
    /// </summary>
    public static bool Apply(HttpContext context, CorsPolicyConfig? routePolicy, CorsPolicyConfig? vhostPolicy)
    {
        var request = context.Request;
        var origin = request.Headers.Origin;
        if (StringValues.IsNullOrEmpty(origin))
        {
            return false;
        }

        var originText = origin.ToString();
        var allowed = IsOriginAllowed(routePolicy, vhostPolicy, originText);
        var isPreflight = HttpMethods.IsOptions(request.Method) && !StringValues.IsNullOrEmpty(request.Headers[RequestMethod]);
        if (!isPreflight)
        {
            if (allowed)
            {
                // The forwarder writes the upstream's headers later; these replace any it sent, as Envoy's encoder does.
                context.Response.OnStarting(static state => SetResponseHeaders((CorsResponse)state), new CorsResponse(context.Response, routePolicy, vhostPolicy, originText));
            }

            return false;
        }

        if (!allowed && (routePolicy?.ForwardNotMatchingPreflights ?? vhostPolicy?.ForwardNotMatchingPreflights ?? true))
        {
            return false;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        var headers = response.Headers;
        if (allowed)
        {
            headers[AllowOrigin] = originText;
        }

        if (routePolicy?.AllowCredentials ?? vhostPolicy?.AllowCredentials ?? false)
        {
            headers[AllowCredentials] = "true";
        }

        // "*" echoes what the browser asked for.
        var methods = routePolicy?.AllowMethods ?? vhostPolicy?.AllowMethods;
        SetIfPresent(headers, AllowMethods, methods == "*" ? request.Headers[RequestMethod].ToString() : methods);
        var allowHeaders = routePolicy?.AllowHeaders ?? vhostPolicy?.AllowHeaders;
        SetIfPresent(headers, AllowHeaders, allowHeaders == "*" ? request.Headers[RequestHeaders].ToString() : allowHeaders);
        SetIfPresent(headers, MaxAge, routePolicy?.MaxAge ?? vhostPolicy?.MaxAge);
        return true;
    }

    /// <summary>The first policy (route, then virtual host) with origin matchers decides; a matcher matching "*" allows all.</summary>
    private static bool IsOriginAllowed(CorsPolicyConfig? routePolicy, CorsPolicyConfig? vhostPolicy, string origin)
    {
        var matchers = routePolicy is { OriginMatchers.IsEmpty: false } ? routePolicy.OriginMatchers : vhostPolicy?.OriginMatchers ?? [];
        foreach (var matcher in matchers)
        {
            if (matcher.Matches("*") || matcher.Matches(origin))
            {
                return true;
            }
        }

        return false;
    }

    private static Task SetResponseHeaders(CorsResponse state)
    {
        var headers = state.Response.Headers;
        headers[AllowOrigin] = state.Origin;
        if (state.Route?.AllowCredentials ?? state.VirtualHost?.AllowCredentials ?? false)
        {
            headers[AllowCredentials] = "true";
        }

        SetIfPresent(headers, ExposeHeaders, state.Route?.ExposeHeaders ?? state.VirtualHost?.ExposeHeaders);
        return Task.CompletedTask;
    }

    private static void SetIfPresent(IHeaderDictionary headers, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            headers[name] = value;
        }
    }

    private sealed record CorsResponse(HttpResponse Response, CorsPolicyConfig? Route, CorsPolicyConfig? VirtualHost, string Origin);
}
