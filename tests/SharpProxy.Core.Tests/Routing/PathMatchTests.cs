using SharpProxy.Core.Routing;
using static SharpProxy.Core.Tests.Routing.RouteBuilders;

namespace SharpProxy.Core.Tests.Routing;

public sealed class PathMatchTests
{
    [Theory]
    [InlineData("/api", "/api", true)]
    [InlineData("/api", "/api/v1", true)]
    [InlineData("/api", "/apix", true)] // prefix is a plain string prefix
    [InlineData("/api", "/ap", false)]
    [InlineData("/api", "/API/v1", false)] // case sensitive by default
    [InlineData("/", "/anything", true)]
    [InlineData("/api", "/api#frag", true)]
    public void Matches_Prefix(string prefix, string path, bool expected)
    {
        Assert.Equal(expected, CompileRoute(Prefix(prefix)).Matches(Request(path)));
    }

    [Theory]
    [InlineData("/api", "/API/v1", true)]
    [InlineData("/Api", "/aPI", true)]
    [InlineData("/api", "/apb", false)]
    public void Matches_PrefixCaseInsensitive(string prefix, string path, bool expected)
    {
        Assert.Equal(expected, CompileRoute(Prefix(prefix, caseSensitive: false)).Matches(Request(path)));
    }

    [Theory]
    [InlineData("/health", "/health", true, true)]
    [InlineData("/health", "/health/", true, false)]
    [InlineData("/health", "/healthz", true, false)]
    [InlineData("/health", "/HEALTH", true, false)]
    [InlineData("/health", "/HEALTH", false, true)]
    [InlineData("/health", "/health?x=1", true, true)] // a stray query is ignored
    [InlineData("/health", "/health#top", true, true)] // and a fragment
    public void Matches_ExactPath(string value, string path, bool caseSensitive, bool expected)
    {
        Assert.Equal(expected, CompileRoute(ExactPath(value, caseSensitive)).Matches(Request(path)));
    }

    [Fact]
    public void Matches_ExactPath_QueryFieldIgnored()
    {
        Assert.True(CompileRoute(ExactPath("/a")).Matches(Request("/a", query: "b=c")));
    }

    [Theory]
    [InlineData(@"/v[0-9]+/items", "/v12/items", true)]
    [InlineData(@"/v[0-9]+/items", "/v12/items/extra", false)] // whole-path match
    [InlineData(@"/v[0-9]+/items", "/prefix/v12/items", false)]
    [InlineData(@"/a|/b", "/b", true)] // alternation stays inside the anchors
    [InlineData(@"/a|/b", "/ab", false)]
    [InlineData(@"/items/.*", "/items/x", true)]
    public void Matches_SafeRegex_WholePath(string regex, string path, bool expected)
    {
        Assert.Equal(expected, CompileRoute(Regex(regex)).Matches(Request(path)));
    }

    [Fact]
    public void Matches_SafeRegexCaseInsensitiveFlag_Ignored()
    {
        // Envoy: case_sensitive is ignored for safe_regex.
        var route = CompileRoute(Regex("/abc", caseSensitive: false));
        Assert.True(route.Matches(Request("/abc")));
        Assert.False(route.Matches(Request("/ABC")));
    }

    [Fact]
    public void Matches_SafeRegexWithInlineIgnoreCase_Honoured()
    {
        Assert.True(CompileRoute(Regex("(?i)/abc")).Matches(Request("/ABC")));
    }

    [Fact]
    public void Matches_SafeRegexOnPathOnly_QueryNotSeen()
    {
        Assert.True(CompileRoute(Regex("/search")).Matches(Request("/search", query: "q=1")));
    }

    [Theory]
    [InlineData("/api", "/api", true)]
    [InlineData("/api", "/api/", true)]
    [InlineData("/api", "/api/v1", true)]
    [InlineData("/api", "/apix", false)]
    [InlineData("/api", "/ap", false)]
    [InlineData("/api", "/API/v1", false)]
    [InlineData("/api", "/api#x", true)]
    public void Matches_PathSeparatedPrefix(string prefix, string path, bool expected)
    {
        Assert.Equal(expected, CompileRoute(SeparatedPrefix(prefix)).Matches(Request(path)));
    }

    [Fact]
    public void Matches_PathSeparatedPrefixCaseInsensitive()
    {
        var route = CompileRoute(SeparatedPrefix("/api", caseSensitive: false));
        Assert.True(route.Matches(Request("/API/v1")));
        Assert.False(route.Matches(Request("/APIX")));
    }

    [Theory]
    [InlineData("/api/")]
    [InlineData("/")]
    [InlineData("")]
    [InlineData("/a?b")]
    [InlineData("/a#b")]
    public void Compile_InvalidPathSeparatedPrefix_Throws(string prefix)
    {
        Assert.Throws<ArgumentException>(() => CompileRoute(SeparatedPrefix(prefix)));
    }

    [Fact]
    public void Matches_GrpcOnly_OnlyGrpcRequests()
    {
        var route = CompileRoute(Prefix("/") with { GrpcOnly = true });
        Assert.True(route.Matches(Request("/pkg.Svc/Method", grpc: true)));
        Assert.False(route.Matches(Request("/pkg.Svc/Method", grpc: false)));
    }

    [Fact]
    public void Match_FirstMatchingRouteInOrder_Wins()
    {
        var table = CompiledRouteTable.Compile(Table(VirtualHost("vh", ["*"],
            Route("exact", ExactPath("/api/v1/users")),
            Route("specific", Prefix("/api/v1")),
            Route("broad", Prefix("/api")),
            Route("shadowed", Prefix("/api/v1/users/admin")),
            Route("catch-all", Prefix("/")))));

        Assert.Equal("exact", table.Match(Request("/api/v1/users")).Route?.Name);
        Assert.Equal("specific", table.Match(Request("/api/v1/users/admin")).Route?.Name); // "shadowed" never wins
        Assert.Equal("broad", table.Match(Request("/api/v2")).Route?.Name);
        Assert.Equal("catch-all", table.Match(Request("/other")).Route?.Name);
    }

    [Fact]
    public void Match_EarlierRouteFailsOnHeader_LaterRouteMatches()
    {
        var table = CompiledRouteTable.Compile(Table(VirtualHost("vh", ["*"],
            Route("needs-header", Prefix("/") with { Headers = [Header("x-a", Configuration.StringMatchKind.Exact, "1")] }),
            Route("fallback", Prefix("/")))));

        Assert.Equal("needs-header", table.Match(Request("/", headers: ("x-a", "1"))).Route?.Name);
        Assert.Equal("fallback", table.Match(Request("/", headers: ("x-a", "2"))).Route?.Name);
    }

    [Fact]
    public void Routes_KeepConfigOrderAndIndex()
    {
        var vhost = new CompiledVirtualHost(VirtualHost("vh", ["*"], Route("a", Prefix("/a")), Route("b", Prefix("/b"))));
        Assert.Equal(["a", "b"], vhost.Routes.Select(r => r.Name));
        Assert.Equal(1, vhost.Routes[1].Index);
        Assert.Equal("vh", vhost.Name);
    }
}
