using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;
using static SharpProxy.Core.Tests.Routing.RouteBuilders;

namespace SharpProxy.Core.Tests.Routing;

public sealed class PathRewriterTests
{
    [Theory]
    [InlineData("/prefix", "/", "/prefix/etc", "//etc")] // Envoy does not fix slashes (documented gotcha)
    [InlineData("/prefix/", "/", "/prefix/etc", "/etc")]
    [InlineData("/prefix", "/new", "/prefix/etc", "/new/etc")]
    [InlineData("/prefix", "/new", "/prefix", "/new")]
    [InlineData("/prefix", "/new", "/prefixfoo", "/newfoo")]
    [InlineData("/api/v1", "/v2", "/api/v1/users", "/v2/users")]
    public void RewritePrefix_PrefixRoute_ReplacesPrefix(string prefix, string rewrite, string path, string expected)
    {
        Assert.Equal(expected, PathRewriter.RewritePrefix(path, Prefix(prefix), rewrite));
    }

    [Fact]
    public void RewritePrefix_CaseInsensitivePrefix_ReplacesMatchedLength()
    {
        Assert.Equal("/new/etc", PathRewriter.RewritePrefix("/PREFIX/etc", Prefix("/prefix", caseSensitive: false), "/new"));
    }

    [Fact]
    public void RewritePrefix_PathSeparatedPrefix_ReplacesPrefix()
    {
        Assert.Equal("/v2/users", PathRewriter.RewritePrefix("/api/users", SeparatedPrefix("/api"), "/v2"));
        Assert.Equal("/v2", PathRewriter.RewritePrefix("/api", SeparatedPrefix("/api"), "/v2"));
    }

    [Fact]
    public void RewritePrefix_ExactPathRoute_ReplacesWholePath()
    {
        Assert.Equal("/new/location", PathRewriter.RewritePrefix("/old", ExactPath("/old"), "/new/location"));
    }

    [Fact]
    public void RewritePrefix_RegexRoute_ReplacesWholePath()
    {
        Assert.Equal("/fixed", PathRewriter.RewritePrefix("/v12/items", Regex("/v[0-9]+/items"), "/fixed"));
    }

    [Fact]
    public void RewritePrefix_EmptyRewrite_Unchanged()
    {
        Assert.Equal("/prefix/etc", PathRewriter.RewritePrefix("/prefix/etc", Prefix("/prefix"), ""));
    }

    private static string Location(RedirectConfig redirect, string scheme = "http", string authority = "example.com", string path = "/a/b", string query = "", RouteMatchConfig? match = null) =>
        PathRewriter.BuildRedirectLocation(redirect, scheme, authority, path, query, match ?? Prefix("/"));

    [Fact]
    public void BuildRedirectLocation_HttpsRedirect_SchemeSwappedDefaultPortDropped()
    {
        var https = new RedirectConfig { Scheme = "https" };
        Assert.Equal("https://example.com/a/b?x=1", Location(https, query: "x=1"));
        Assert.Equal("https://example.com/a/b", Location(https, authority: "example.com:80")); // http default port dropped
        Assert.Equal("https://example.com:8080/a/b", Location(https, authority: "example.com:8080")); // other port kept
        Assert.Equal("https://example.com:443/a/b", Location(https, scheme: "https", authority: "example.com:443")); // same scheme: kept
    }

    [Fact]
    public void BuildRedirectLocation_SchemeToHttp_HttpsDefaultPortDropped()
    {
        Assert.Equal("http://example.com/a/b", Location(new RedirectConfig { Scheme = "http" }, scheme: "https", authority: "example.com:443"));
    }

    [Fact]
    public void BuildRedirectLocation_HostRedirect_ReplacesAuthorityIncludingPort()
    {
        Assert.Equal("http://new.example.org/a/b", Location(new RedirectConfig { Host = "new.example.org" }, authority: "example.com:8080"));
    }

    [Fact]
    public void BuildRedirectLocation_PortRedirect_ReplacesPort()
    {
        Assert.Equal("http://example.com:9000/a/b", Location(new RedirectConfig { Port = 9000 }, authority: "example.com:8080"));
        Assert.Equal("http://example.com:9000/a/b", Location(new RedirectConfig { Port = 9000 }));
        Assert.Equal("https://other:8443/a/b", Location(new RedirectConfig { Scheme = "https", Host = "other", Port = 8443 }));
        Assert.Equal("http://[::1]:9000/a/b", Location(new RedirectConfig { Port = 9000 }, authority: "[::1]:8080"));
    }

    [Fact]
    public void BuildRedirectLocation_PathRedirect_KeepsRequestQuery()
    {
        Assert.Equal("http://example.com/new?x=1", Location(new RedirectConfig { Path = "/new" }, query: "x=1"));
        Assert.Equal("http://example.com/new", Location(new RedirectConfig { Path = "/new" }));
    }

    [Fact]
    public void BuildRedirectLocation_PathRedirectWithQuery_ItsQueryWinsAndSurvivesStripQuery()
    {
        Assert.Equal("http://example.com/new?y=2", Location(new RedirectConfig { Path = "/new?y=2", StripQuery = true }, query: "x=1"));
        Assert.Equal("http://example.com/new?y=2", Location(new RedirectConfig { Path = "/new?y=2" }, query: "x=1"));
    }

    [Fact]
    public void BuildRedirectLocation_PathWithoutSlash_SlashAdded()
    {
        Assert.Equal("http://example.com/new", Location(new RedirectConfig { Path = "new" }));
    }

    [Fact]
    public void BuildRedirectLocation_StripQuery_RemovesQuery()
    {
        Assert.Equal("http://example.com/a/b", Location(new RedirectConfig { StripQuery = true }, query: "x=1"));
        Assert.Equal("http://example.com/new", Location(new RedirectConfig { Path = "/new", StripQuery = true }, query: "x=1"));
    }

    [Fact]
    public void BuildRedirectLocation_PrefixRewrite_AppliedToMatchedPrefixKeepsQuery()
    {
        var redirect = new RedirectConfig { PrefixRewrite = "/v2" };
        Assert.Equal("http://example.com/v2/users?x=1", Location(redirect, path: "/v1/users", query: "x=1", match: Prefix("/v1")));
        Assert.Equal("http://example.com/v2", Location(redirect, path: "/exact", match: ExactPath("/exact")));
    }

    [Fact]
    public void BuildRedirectLocation_Combined()
    {
        var redirect = new RedirectConfig { Scheme = "https", Host = "secure.example.com", PrefixRewrite = "/app/", StripQuery = true, ResponseCode = 308 };
        Assert.Equal("https://secure.example.com/app/x", Location(redirect, path: "/old/x", query: "q=1", match: Prefix("/old/")));
    }

    [Theory]
    [InlineData(301, true)]
    [InlineData(302, true)]
    [InlineData(303, true)]
    [InlineData(307, true)]
    [InlineData(308, true)]
    [InlineData(300, false)]
    [InlineData(304, false)]
    [InlineData(200, false)]
    public void IsValidRedirectResponseCode_EnvoyCodes(int code, bool expected)
    {
        Assert.Equal(expected, PathRewriter.IsValidRedirectResponseCode(code));
    }

    [Fact]
    public void Compile_RedirectWithInvalidCode_Throws()
    {
        var route = new RouteConfig { Match = Prefix("/"), Redirect = new RedirectConfig { Scheme = "https", ResponseCode = 200 } };
        Assert.Throws<ArgumentException>(() => new CompiledRoute(route, 0));
        Assert.Equal(301, new RedirectConfig().ResponseCode);
    }

    [Fact]
    public void Match_RedirectRoute_MatchedThenLocationBuilt()
    {
        var redirect = new RouteConfig { Name = "to-https", Match = Prefix("/"), Redirect = new RedirectConfig { Scheme = "https", ResponseCode = 302 } };
        var table = CompiledRouteTable.Compile(Table(VirtualHost("vh", ["*"], redirect)));
        var request = Request("/login", query: "next=%2F", authority: "shop.example.com:80");

        var route = table.Match(request).Route!;

        Assert.Equal(302, route.Config.Redirect!.ResponseCode);
        Assert.Equal("https://shop.example.com/login?next=%2F",
            PathRewriter.BuildRedirectLocation(route.Config.Redirect, "http", request.Authority, request.Path, request.Query, route.Config.Match));
    }
}
