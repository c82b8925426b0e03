using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Filters;

/// <summary>
/// Envoy's CORS filter (envoy.filters.http.cors) at request time, as its cors_filter.cc behaves: a request with an
/// Origin the policy allows is a CORS request; an OPTIONS one with Access-Control-Request-Method is a preflight and is
/// answered here (200 with the allow-* headers, nothing goes upstream); any other CORS request goes upstream and its
/// response gets access-control-allow-origin (the request's origin), -allow-credentials and -expose-headers.
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

    /// <summary>The policy that applies: the route's, else the virtual host's; null without the filter in the chain.</summary>
    public static CorsPolicyConfig? Effective(HttpConnectionManagerConfig http, VirtualHostConfig vhost, RouteConfig route) =>
        http.CorsFilter ? route.Cors ?? vhost.Cors : null;

    /// <summary>
    /// Runs the request side. Returns true when the request was answered here (a preflight); false when it goes on,
    /// in which case an allowed CORS request has its response headers registered.
    /// </summary>
    public static bool Apply(HttpContext context, CorsPolicyConfig policy)
    {
        var request = context.Request;
        var origin = request.Headers.Origin;
        if (StringValues.IsNullOrEmpty(origin))
        {
            return false;
        }

        var originText = origin.ToString();
        var isPreflight = HttpMethods.IsOptions(request.Method) && !StringValues.IsNullOrEmpty(request.Headers[RequestMethod]);
        if (!IsOriginAllowed(policy, originText))
        {
            if (isPreflight && !policy.ForwardNotMatchingPreflights)
            {
                // Envoy answers a non-matching preflight itself, without any CORS header, when told not to forward it.
                context.Response.StatusCode = StatusCodes.Status200OK;
                return true;
            }

            return false;
        }

        var response = context.Response;
        if (isPreflight)
        {
            response.StatusCode = StatusCodes.Status200OK;
            var headers = response.Headers;
            headers[AllowOrigin] = originText;
            if (policy.AllowCredentials)
            {
                headers[AllowCredentials] = "true";
            }

            SetIfPresent(headers, AllowMethods, policy.AllowMethods);
            SetIfPresent(headers, AllowHeaders, policy.AllowHeaders);
            SetIfPresent(headers, MaxAge, policy.MaxAge);
            return true;
        }

        // The upstream's response headers are written later by the forwarder; these replace any it sent, as Envoy's encoder does.
        response.OnStarting(static state => SetResponseHeaders((CorsResponse)state), new CorsResponse(response, policy, originText));
        return false;
    }

    public static bool IsOriginAllowed(CorsPolicyConfig policy, string origin)
    {
        foreach (var matcher in policy.OriginMatchers)
        {
            // Envoy: a matcher that matches "*" allows every origin.
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
        if (state.Policy.AllowCredentials)
        {
            headers[AllowCredentials] = "true";
        }

        SetIfPresent(headers, ExposeHeaders, state.Policy.ExposeHeaders);
        return Task.CompletedTask;
    }

    private static void SetIfPresent(IHeaderDictionary headers, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            headers[name] = value;
        }
    }

    private sealed record CorsResponse(HttpResponse Response, CorsPolicyConfig Policy, string Origin);
}
