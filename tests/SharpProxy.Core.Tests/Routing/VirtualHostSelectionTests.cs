using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;
using static SharpProxy.Core.Tests.Routing.RouteBuilders;

namespace SharpProxy.Core.Tests.Routing;

public sealed class VirtualHostSelectionTests
{
    private static readonly CompiledRouteTable Precedence = CompiledRouteTable.Compile(Table(
        VirtualHost("exact", ["foo.bar.com", "reviews:9080"]),
        VirtualHost("suffix-short", ["*.bar.com"]),
        VirtualHost("suffix-long", ["*-bar.baz.com", "*.foo.bar.com"]),
        VirtualHost("suffix-nodot", ["*baz.com"]),
        VirtualHost("prefix-short", ["api.*"]),
        VirtualHost("prefix-long", ["api.internal.*"]),
        VirtualHost("default", ["*"])));

    [Theory]
    [InlineData("foo.bar.com", "exact")] // exact beats *.bar.com
    [InlineData("FOO.Bar.COM", "exact")] // lowercase comparison
    [InlineData("x.bar.com", "suffix-short")]
    [InlineData("a.foo.bar.com", "suffix-long")] // longest suffix wins
    [InlineData("foo-bar.baz.com", "suffix-long")] // *-bar.baz.com before *baz.com
    [InlineData("x.baz.com", "suffix-nodot")]
    [InlineData("baz.com", "default")] // *baz.com never matches an empty remainder
    [InlineData(".bar.com", "default")] // *.bar.com does not match .bar.com
    [InlineData("api.example.com", "prefix-short")]
    [InlineData("api.internal.example", "prefix-long")] // longest prefix wins
    [InlineData("api.bar.com", "suffix-short")] // suffix beats prefix
    [InlineData("api.", "default")] // prefix wildcard never matches empty
    [InlineData("unknown.org", "default")]
    [InlineData("", "default")]
    public void FindVirtualHost_DomainPrecedence_ExactThenSuffixThenPrefixThenDefault(string authority, string expected)
    {
        Assert.Equal(expected, Precedence.FindVirtualHost(authority)?.Name);
    }

    [Theory]
    [InlineData("reviews:9080", "reviews")]
    [InlineData("reviews:1234", "reviews")]
    [InlineData("reviews", "reviews")]
    [InlineData("[fd00::1]:9080", "v6")]
    [InlineData("[fd00::1]", "v6")]
    [InlineData("other:9080", "default")]
    public void FindVirtualHost_IgnorePortInHostMatching_PortDroppedForSelection(string authority, string expected)
    {
        var table = CompiledRouteTable.Compile(Table(
            VirtualHost("reviews", ["reviews"]),
            VirtualHost("v6", ["[fd00::1]"]),
            VirtualHost("default", ["*"])) with { IgnorePortInHostMatching = true });

        Assert.Equal(expected, table.FindVirtualHost(authority)?.Name);
    }

    [Fact]
    public void FindVirtualHost_NoDefaultAndNoMatch_Null()
    {
        var table = CompiledRouteTable.Compile(Table(VirtualHost("a", ["a.com"])));
        Assert.Null(table.FindVirtualHost("b.com"));
        Assert.Null(table.Match(Request(authority: "b.com")).VirtualHost);
    }

    [Fact]
    public void FindVirtualHost_OnlyDefault_AnyAuthority()
    {
        var table = CompiledRouteTable.Compile(Table(VirtualHost("all", ["*"])));
        Assert.Equal("all", table.FindVirtualHost("whatever:1234")?.Name);
    }

    [Theory]
    [InlineData("reviews:9080", "exact")] // domain carries the port
    [InlineData("Reviews:9080", "exact")]
    [InlineData("reviews", "default")] // port-aware: without the port it is a different domain
    [InlineData("reviews:9081", "default")]
    [InlineData("foo.bar.com:80", "default")] // neither foo.bar.com nor ending in ".bar.com"
    public void FindVirtualHost_PortInAuthority_MatchedAsGiven(string authority, string expected)
    {
        Assert.Equal(expected, Precedence.FindVirtualHost(authority)?.Name);
    }

    [Theory]
    [InlineData("foo.bar.com:8080", "exact")]
    [InlineData("foo.bar.com:80", "exact")]
    [InlineData("foo.bar.com", "exact")]
    [InlineData("foo.bar.com:abc", "default")] // non-numeric port is not stripped
    [InlineData("foo.bar.com:", "default")] // empty port is not stripped
    [InlineData("foo.bar.com:+80", "exact")] // absl::SimpleAtoi accepts a '+'
    [InlineData("foo.bar.com:-0", "default")]
    [InlineData("foo.bar.com:99999999999", "default")] // does not fit uint32
    [InlineData("[::1]:80", "v6")]
    [InlineData("[::1]", "v6")]
    public void FindVirtualHost_StripAnyHostPort_PortRemovedBeforeMatching(string authority, string expected)
    {
        var table = CompiledRouteTable.Compile(
            Table(VirtualHost("exact", ["foo.bar.com"]), VirtualHost("v6", ["[::1]"]), VirtualHost("default", ["*"])),
            stripAnyHostPort: true);
        Assert.Equal(expected, table.FindVirtualHost(authority)?.Name);
    }

    [Theory]
    [InlineData("foo.bar.com:8080", "exact")] // equals the listener port: stripped
    [InlineData("foo.bar.com:9090", "default")] // different port: kept, no match
    [InlineData("foo.bar.com", "exact")]
    public void FindVirtualHost_StripMatchingHostPort_OnlyListenerPortRemoved(string authority, string expected)
    {
        var table = CompiledRouteTable.Compile(
            Table(VirtualHost("exact", ["foo.bar.com"]), VirtualHost("default", ["*"])),
            stripMatchingHostPort: true,
            listenerPort: 8080);
        Assert.Equal(expected, table.FindVirtualHost(authority)?.Name);
    }

    [Fact]
    public void FindVirtualHost_NoStripping_DomainWithoutPortDoesNotMatchAuthorityWithPort()
    {
        var table = CompiledRouteTable.Compile(Table(VirtualHost("exact", ["foo.bar.com"])));
        Assert.Null(table.FindVirtualHost("foo.bar.com:8080"));
    }

    [Theory]
    [InlineData("a.com", "A.COM")]
    [InlineData("*.a.com", "*.A.com")]
    [InlineData("api.*", "api.*")]
    public void Compile_DuplicateDomainAcrossVirtualHosts_ThrowsNamingDomain(string first, string second)
    {
        var ex = Assert.Throws<ArgumentException>(() => CompiledRouteTable.Compile(Table(VirtualHost("one", [first]), VirtualHost("two", [second]))));
        Assert.Contains(first.ToLowerInvariant(), ex.Message, StringComparison.Ordinal);
        Assert.Contains("'one'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'two'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_TwoDefaultDomains_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => CompiledRouteTable.Compile(Table(VirtualHost("one", ["*"]), VirtualHost("two", ["*"]))));
        Assert.Contains("wildcard", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_SuffixAndNoDotSuffixSameText_NotDuplicates()
    {
        // "*.a.com" and "*a.com" are different wildcards in Envoy.
        var table = CompiledRouteTable.Compile(Table(VirtualHost("dot", ["*.a.com"]), VirtualHost("nodot", ["*a.com"])));
        Assert.Equal("dot", table.FindVirtualHost("x.a.com")?.Name);
        Assert.Equal("nodot", table.FindVirtualHost("xa.com")?.Name);
    }

    [Fact]
    public void Compile_InvalidRoute_ThrowsNamingVirtualHostAndRoute()
    {
        var route = Route("bad-regex", Regex("(unclosed"));
        var ex = Assert.Throws<ArgumentException>(() => CompiledRouteTable.Compile(Table(VirtualHost("vh", ["*"], route))));
        Assert.Contains("'vh'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("bad-regex", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FindVirtualHost_LongAuthority_StillMatches()
    {
        var longHost = new string('a', 400) + ".example.com";
        var table = CompiledRouteTable.Compile(Table(VirtualHost("wild", ["*.example.com"])));
        Assert.Equal("wild", table.FindVirtualHost(longHost.ToUpperInvariant())?.Name);
    }

    [Fact]
    public void Match_VirtualHostWithoutMatchingRoute_VirtualHostButNoRoute()
    {
        var table = CompiledRouteTable.Compile(Table(VirtualHost("vh", ["*"], Route("r", ExactPath("/only")))));
        var result = table.Match(Request("/other"));
        Assert.Equal("vh", result.VirtualHost?.Name);
        Assert.Null(result.Route);
        Assert.False(result.IsMatch);
    }

    [Fact]
    public void Compile_KeepsConfig()
    {
        var config = Table(VirtualHost("vh", ["*"]));
        Assert.Same(config, CompiledRouteTable.Compile(config).Config);
        Assert.Equal(PathMatchKind.Prefix, Prefix("/").Kind);
    }
}
