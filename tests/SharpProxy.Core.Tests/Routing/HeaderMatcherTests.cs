using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;
using static SharpProxy.Core.Tests.Routing.RouteBuilders;

namespace SharpProxy.Core.Tests.Routing;

public sealed class HeaderMatcherTests
{
    private static bool Evaluate(HeaderMatcherConfig matcher, params (string, string)[] headers) =>
        new CompiledHeaderMatcher(matcher, default).Matches(Request(headers: headers));

    [Theory]
    // kind, matcher value, ignore case, header value, expected
    [InlineData(nameof(StringMatchKind.Exact), "abc", false, "abc", true)]
    [InlineData(nameof(StringMatchKind.Exact), "abc", false, "ABC", false)]
    [InlineData(nameof(StringMatchKind.Exact), "abc", true, "ABC", true)]
    [InlineData(nameof(StringMatchKind.Exact), "abc", false, "abcd", false)]
    [InlineData(nameof(StringMatchKind.Exact), "", false, "", true)]
    [InlineData(nameof(StringMatchKind.Exact), "", false, "x", false)]
    [InlineData(nameof(StringMatchKind.Prefix), "ab", false, "abc", true)]
    [InlineData(nameof(StringMatchKind.Prefix), "ab", false, "ABc", false)]
    [InlineData(nameof(StringMatchKind.Prefix), "ab", true, "ABc", true)]
    [InlineData(nameof(StringMatchKind.Prefix), "abcd", false, "abc", false)]
    [InlineData(nameof(StringMatchKind.Suffix), "bc", false, "abc", true)]
    [InlineData(nameof(StringMatchKind.Suffix), "bc", false, "aBC", false)]
    [InlineData(nameof(StringMatchKind.Suffix), "bc", true, "aBC", true)]
    [InlineData(nameof(StringMatchKind.Contains), "b", false, "abc", true)]
    [InlineData(nameof(StringMatchKind.Contains), "B", false, "abc", false)]
    [InlineData(nameof(StringMatchKind.Contains), "B", true, "abc", true)]
    [InlineData(nameof(StringMatchKind.Contains), "xyz", true, "abc", false)]
    [InlineData(nameof(StringMatchKind.SafeRegex), @"\d{3}", false, "123", true)]
    [InlineData(nameof(StringMatchKind.SafeRegex), @"\d{3}", false, "1234", false)] // full match
    [InlineData(nameof(StringMatchKind.SafeRegex), "abc", true, "ABC", false)] // ignore_case has no effect on safe_regex
    public void Matches_StringMatch(string kindName, string value, bool ignoreCase, string header, bool expected)
    {
        var kind = Enum.Parse<StringMatchKind>(kindName);
        Assert.Equal(expected, Evaluate(Header("x-h", kind, value, ignoreCase), ("x-h", header)));
    }

    [Fact]
    public void Matches_NameCaseInsensitive()
    {
        Assert.True(Evaluate(Header("X-Canary", StringMatchKind.Exact, "1"), ("x-canary", "1")));
    }

    [Theory]
    // invert, treat missing as empty, header present?, expected
    [InlineData(false, false, true, true)]
    [InlineData(true, false, true, false)]
    [InlineData(false, false, false, false)] // missing never matches a value matcher
    [InlineData(true, false, false, false)] // ... not even inverted (Envoy)
    [InlineData(false, true, false, false)] // missing as "" does not equal "v"
    [InlineData(true, true, false, true)] // missing as "" inverted matches
    public void Matches_ExactWithInvertAndMissing(bool invert, bool missingAsEmpty, bool present, bool expected)
    {
        var matcher = Header("x-h", StringMatchKind.Exact, "v", invert: invert, missingAsEmpty: missingAsEmpty);
        Assert.Equal(expected, present ? Evaluate(matcher, ("x-h", "v")) : Evaluate(matcher));
    }

    [Fact]
    public void Matches_TreatMissingAsEmptyWithEmptyRegex_Matches()
    {
        Assert.True(Evaluate(Header("x-h", StringMatchKind.SafeRegex, "^$", missingAsEmpty: true)));
        Assert.False(Evaluate(Header("x-h", StringMatchKind.SafeRegex, "^$")));
    }

    [Theory]
    // present_match value (null = no specifier), invert, header present?, expected
    [InlineData(null, false, true, true)] // no specifier = present
    [InlineData(null, false, false, false)]
    [InlineData(true, false, true, true)]
    [InlineData(true, false, false, false)]
    [InlineData(false, false, true, false)] // present_match: false = must be absent
    [InlineData(false, false, false, true)]
    [InlineData(true, true, true, false)]
    [InlineData(true, true, false, true)]
    [InlineData(false, true, true, true)]
    [InlineData(false, true, false, false)]
    public void Matches_PresentMatch(bool? presentMatch, bool invert, bool present, bool expected)
    {
        var matcher = new HeaderMatcherConfig { Name = "x-h", PresentMatch = presentMatch, InvertMatch = invert };
        Assert.Equal(expected, present ? Evaluate(matcher, ("x-h", "")) : Evaluate(matcher));
    }

    [Theory]
    [InlineData("-1", true)]
    [InlineData("-10", true)]
    [InlineData("0", false)] // end exclusive
    [InlineData("-11", false)]
    [InlineData("+-1", false)]
    [InlineData("-1somestring", false)]
    [InlineData("10.9", false)]
    [InlineData("somestring", false)]
    [InlineData("", false)]
    [InlineData(" -5 ", true)] // absl::SimpleAtoi trims ASCII whitespace
    [InlineData("99999999999999999999", false)] // overflow
    public void Matches_Range(string value, bool expected)
    {
        var matcher = new HeaderMatcherConfig { Name = "x-n", Range = new Int64RangeConfig(-10, 0) };
        Assert.Equal(expected, Evaluate(matcher, ("x-n", value)));
    }

    [Fact]
    public void Matches_RangeInverted()
    {
        var matcher = new HeaderMatcherConfig { Name = "x-n", Range = new Int64RangeConfig(-10, 0), InvertMatch = true };
        Assert.False(Evaluate(matcher, ("x-n", "-1")));
        Assert.True(Evaluate(matcher, ("x-n", "5")));
        Assert.False(Evaluate(matcher)); // missing: no match even inverted
        Assert.True(Evaluate(matcher with { TreatMissingHeaderAsEmpty = true })); // "" is not in range, inverted
    }

    [Fact]
    public void Matches_RepeatedHeader_ValuesJoinedWithComma()
    {
        var exact = Header("x-h", StringMatchKind.Exact, "a,b");
        Assert.True(Evaluate(exact, ("x-h", "a"), ("x-h", "b")));
        Assert.False(Evaluate(Header("x-h", StringMatchKind.Exact, "a"), ("x-h", "a"), ("x-h", "b")));
        Assert.True(Evaluate(Header("x-h", StringMatchKind.Suffix, ",b"), ("x-h", "a"), ("x-h", "b")));
    }

    [Fact]
    public void Matches_AllHeaderMatchersMustMatch()
    {
        var route = CompileRoute(Prefix("/") with
        {
            Headers = [Header("x-a", StringMatchKind.Exact, "1"), Header("x-b", StringMatchKind.Exact, "2")],
        });
        Assert.True(route.Matches(Request(headers: [("x-a", "1"), ("x-b", "2")])));
        Assert.False(route.Matches(Request(headers: [("x-a", "1")])));
        Assert.False(route.Matches(Request(headers: [("x-a", "1"), ("x-b", "3")])));
    }

    [Fact]
    public void Matches_MethodPseudoHeader_FromRequestMethod()
    {
        var matcher = new CompiledHeaderMatcher(Header(":method", StringMatchKind.Exact, "POST"), default);
        var request = Request() with { Method = "POST" };
        Assert.True(matcher.Matches(request));
        Assert.False(matcher.Matches(request with { Method = "GET" }));
    }

    [Fact]
    public void Matches_MethodPseudoHeaderWithoutMethod_FromHeaders()
    {
        Assert.True(Evaluate(Header(":method", StringMatchKind.Exact, "PUT"), (":method", "PUT")));
    }

    [Fact]
    public void Matches_AuthorityPseudoHeader_FromAuthorityAfterPortStripping()
    {
        var config = Header(":authority", StringMatchKind.Exact, "svc.local");
        var request = Request(authority: "svc.local:8080");
        Assert.False(new CompiledHeaderMatcher(config, default).Matches(request));
        Assert.True(new CompiledHeaderMatcher(config, new HostNormalization(true, false, 0)).Matches(request));
    }

    [Fact]
    public void Matches_PathPseudoHeader_IncludesQuery()
    {
        var matcher = new CompiledHeaderMatcher(Header(":path", StringMatchKind.Exact, "/a?b=1"), default);
        Assert.True(matcher.Matches(Request("/a", query: "b=1")));
        Assert.False(matcher.Matches(Request("/a")));
    }

    [Fact]
    public void Matches_HostHeaderName_NeverPresentAsInEnvoy()
    {
        // Envoy keeps the HTTP/1 Host as :authority, so a matcher on "host" sees no header.
        Assert.False(Evaluate(new HeaderMatcherConfig { Name = "host" }, ("Host", "example.com")));
        Assert.True(Evaluate(new HeaderMatcherConfig { Name = "host", PresentMatch = false }, ("Host", "example.com")));
    }

    [Fact]
    public void FindRoute_ManyHeaderNamesBeyondCacheSlots_EachRouteSeesItsOwnHeader()
    {
        // 12 names (more than the per-search cache holds), several routes per name, different case per route.
        var routes = Enumerable.Range(0, 36)
            .Select(i => Route($"r{i}", Prefix("/") with
            {
                Headers = [Header(i % 2 == 0 ? $"x-h{i % 12}" : $"X-H{i % 12}", StringMatchKind.Exact, $"v{i}")],
            }))
            .Append(Route("fallback", Prefix("/")))
            .ToArray();
        var vhost = new CompiledVirtualHost(VirtualHost("vh", ["*"], routes));

        for (var i = 0; i < 36; i++)
        {
            // Other cached and uncached headers present with non-matching values must not interfere.
            var others = i % 12 is 0 or 11 ? [("x-h5", "nope")] : new[] { ("x-h0", "nope"), ("x-h11", "nope") };
            var request = Request(headers: [($"x-h{i % 12}", $"v{i}"), .. others]);
            Assert.Equal($"r{i}", vhost.FindRoute(request)?.Name);
        }

        Assert.Equal("r0", vhost.FindRoute(Request(headers: ("x-h0", "v0")))?.Name);
        Assert.Equal("r35", vhost.FindRoute(Request(headers: ("X-H11", "v35")))?.Name);
    }

    [Fact]
    public void FindRoute_SameHeaderRepeatedValues_JoinedOnceAndMatchedByLaterRoute()
    {
        var vhost = new CompiledVirtualHost(VirtualHost("vh", ["*"],
            Route("a", Prefix("/") with { Headers = [Header("x-h", StringMatchKind.Exact, "a")] }),
            Route("ab", Prefix("/") with { Headers = [Header("x-h", StringMatchKind.Exact, "a,b")] })));

        Assert.Equal("ab", vhost.FindRoute(Request(headers: [("x-h", "a"), ("x-h", "b")]))?.Name);
        Assert.Equal("a", vhost.FindRoute(Request(headers: ("x-h", "a")))?.Name);
    }
}
