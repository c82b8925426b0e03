using SharpProxy.Core.Configuration;
using static SharpProxy.Core.Tests.Routing.RouteBuilders;

namespace SharpProxy.Core.Tests.Routing;

public sealed class QueryParameterMatcherTests
{
    private static bool Evaluate(string query, params QueryParameterMatcherConfig[] matchers) =>
        CompileRoute(Prefix("/") with { QueryParameters = [.. matchers] }).Matches(Request("/", query));

    private static QueryParameterMatcherConfig Param(string name, StringMatchKind? kind = null, string value = "", bool ignoreCase = false) =>
        new() { Name = name, StringMatch = kind is { } k ? new StringMatcherConfig(k, value, ignoreCase) : null };

    [Theory]
    [InlineData("debug=1", true)]
    [InlineData("debug", true)] // present without '='
    [InlineData("debug=", true)]
    [InlineData("a=1&debug=0&b=2", true)]
    [InlineData("debugx=1", false)]
    [InlineData("Debug=1", false)] // names are case sensitive
    [InlineData("", false)]
    [InlineData("x=debug", false)]
    public void Matches_Present(string query, bool expected)
    {
        Assert.Equal(expected, Evaluate(query, Param("debug")));
    }

    [Theory]
    [InlineData("v=canary", true)]
    [InlineData("v=stable", false)]
    [InlineData("v", false)] // present with empty value
    [InlineData("v=canary&v=stable", true)] // first occurrence
    [InlineData("v=stable&v=canary", false)] // only the first occurrence is matched
    [InlineData("a=b&v=canary", true)]
    [InlineData("v=can%61ry", false)] // not percent-decoded (Envoy parseQueryString)
    [InlineData("v=canary=x", false)] // split on the first '='
    public void Matches_ExactValue(string query, bool expected)
    {
        Assert.Equal(expected, Evaluate(query, Param("v", StringMatchKind.Exact, "canary")));
    }

    [Fact]
    public void Matches_EncodedValueMatchesEncodedConfig()
    {
        Assert.True(Evaluate("q=a%20b", Param("q", StringMatchKind.Exact, "a%20b")));
    }

    [Theory]
    [InlineData(nameof(StringMatchKind.Prefix), "ab", false, "q=abc", true)]
    [InlineData(nameof(StringMatchKind.Suffix), "bc", false, "q=abc", true)]
    [InlineData(nameof(StringMatchKind.Contains), "B", true, "q=abc", true)]
    [InlineData(nameof(StringMatchKind.Exact), "ABC", true, "q=abc", true)]
    [InlineData(nameof(StringMatchKind.SafeRegex), "[a-c]+", false, "q=abc", true)]
    [InlineData(nameof(StringMatchKind.SafeRegex), "[a-c]+", false, "q=abcd", false)]
    public void Matches_StringMatchers(string kindName, string value, bool ignoreCase, string query, bool expected)
    {
        var kind = Enum.Parse<StringMatchKind>(kindName);
        Assert.Equal(expected, Evaluate(query, Param("q", kind, value, ignoreCase)));
    }

    [Fact]
    public void Matches_AllParametersMustMatch()
    {
        var a = Param("a", StringMatchKind.Exact, "1");
        var b = Param("b");
        Assert.True(Evaluate("a=1&b", a, b));
        Assert.False(Evaluate("a=1", a, b));
        Assert.False(Evaluate("a=2&b", a, b));
    }
}
