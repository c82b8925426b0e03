using Microsoft.AspNetCore.Http;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Filters;

namespace SharpProxy.Core.Tests.Filters;

public sealed class CorsTests
{
    private static readonly CorsPolicyConfig Policy = new()
    {
        AllowOrigins = [new StringMatcherConfig(StringMatchKind.Exact, "https://a.example")],
        AllowMethods = "GET,POST",
        AllowHeaders = "x-custom",
        ExposeHeaders = "x-exposed",
        MaxAge = "600",
        AllowCredentials = true,
    };

    [Fact]
    public void Preflight_AllowedOrigin_AnsweredLocally_WithAllowHeaders()
    {
        var context = Request("OPTIONS", "https://a.example", requestMethod: "POST");

        Assert.True(Cors.Apply(context, Policy, null));

        var headers = context.Response.Headers;
        Assert.Equal(200, context.Response.StatusCode);
        Assert.Equal("https://a.example", headers["access-control-allow-origin"]);
        Assert.Equal("true", headers["access-control-allow-credentials"]);
        Assert.Equal("GET,POST", headers["access-control-allow-methods"]);
        Assert.Equal("x-custom", headers["access-control-allow-headers"]);
        Assert.Equal("600", headers["access-control-max-age"]);
        Assert.False(headers.ContainsKey("access-control-expose-headers"));
    }

    [Fact]
    public void Preflight_OtherOrigin_ForwardedByDefault()
    {
        var context = Request("OPTIONS", "https://evil.example", requestMethod: "POST");

        Assert.False(Cors.Apply(context, Policy, null));
        Assert.False(context.Response.Headers.ContainsKey("access-control-allow-origin"));
    }

    [Fact]
    public void Preflight_OtherOrigin_NotForwarded_AnsweredWithoutAllowOrigin()
    {
        var context = Request("OPTIONS", "https://evil.example", requestMethod: "POST");

        Assert.True(Cors.Apply(context, Policy with { ForwardNotMatchingPreflights = false }, null));
        Assert.Equal(200, context.Response.StatusCode);
        Assert.False(context.Response.Headers.ContainsKey("access-control-allow-origin"));
        Assert.Equal("GET,POST", context.Response.Headers["access-control-allow-methods"]);
    }

    [Fact]
    public void OptionsWithoutRequestMethod_NotAPreflight_GoesUpstream()
    {
        var context = Request("OPTIONS", "https://a.example", requestMethod: null);

        Assert.False(Cors.Apply(context, Policy, null));
    }

    [Fact]
    public void NoOrigin_NotCors()
    {
        var context = Request("OPTIONS", origin: null, requestMethod: "GET");

        Assert.False(Cors.Apply(context, Policy, null));
        Assert.False(context.Response.Headers.ContainsKey("access-control-allow-origin"));
    }

    [Fact]
    public void WildcardStarMethods_EchoTheRequestedMethod()
    {
        var context = Request("OPTIONS", "https://a.example", requestMethod: "PATCH");

        Assert.True(Cors.Apply(context, Policy with { AllowMethods = "*" }, null));
        Assert.Equal("PATCH", context.Response.Headers["access-control-allow-methods"]);
    }

    [Fact]
    public void MatcherOfStar_AllowsEveryOrigin()
    {
        var anyOrigin = new CorsPolicyConfig { AllowOrigins = [new StringMatcherConfig(StringMatchKind.Exact, "*")] };
        var context = Request("OPTIONS", "https://whoever.example", requestMethod: "GET");

        Assert.True(Cors.Apply(context, anyOrigin, null));
        Assert.Equal("https://whoever.example", context.Response.Headers["access-control-allow-origin"]);
    }

    [Fact]
    public void RoutePolicy_FieldsFallBackToVirtualHostPolicy()
    {
        var routeOnlyMethods = new CorsPolicyConfig { AllowMethods = "PUT" };
        var context = Request("OPTIONS", "https://a.example", requestMethod: "PUT");

        Assert.True(Cors.Apply(context, routeOnlyMethods, Policy));
        Assert.Equal("https://a.example", context.Response.Headers["access-control-allow-origin"]);
        Assert.Equal("PUT", context.Response.Headers["access-control-allow-methods"]);
        Assert.Equal("x-custom", context.Response.Headers["access-control-allow-headers"]);
    }

    private static DefaultHttpContext Request(string method, string? origin, string? requestMethod)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        if (origin is not null)
        {
            context.Request.Headers.Origin = origin;
        }

        if (requestMethod is not null)
        {
            context.Request.Headers["access-control-request-method"] = requestMethod;
        }

        return context;
    }
}
