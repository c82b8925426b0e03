using SharpProxy.Core.Routing;

namespace SharpProxy.Core.Tests.Routing;

public sealed class Re2SyntaxTests
{
    [Theory]
    [InlineData(@"\d+", "123", true)]
    [InlineData(@"\d+", "١٢٣", false)] // Arabic-Indic digits: \d is ASCII-only in RE2
    [InlineData(@"\w+", "abc_1", true)]
    [InlineData(@"\w+", "é", false)]
    [InlineData(@"a\sb", "a b", true)]
    [InlineData(@"a\sb", "a\u00a0b", false)] // no-break space is not RE2 whitespace
    [InlineData(@"\D", "x", true)]
    [InlineData(@"[\d.]+", "1.2", true)]
    [InlineData(@"[\d.]+", "١", false)]
    [InlineData(@"[[:alpha:]]+", "abcXYZ", true)]
    [InlineData(@"[[:alpha:]]+", "a:", false)]
    [InlineData(@"[^[:digit:]]+", "abc", true)]
    [InlineData(@"[^[:digit:]]+", "a1", false)]
    [InlineData(@"[[:xdigit:]-]+", "0f-A9", true)]
    [InlineData(@"(?P<version>v[0-9]+)/.*", "v2/x", true)]
    [InlineData(@"\(?P<x", "P<x", true)] // escaped paren: not a named group
    [InlineData(@"[(?P<]+", "P<?(", true)] // inside a class: literal characters
    [InlineData(@"[]a]+", "]a", true)]
    [InlineData(@"a.c", "a\nc", false)] // '.' excludes newline, as in RE2
    public void CompiledRegex_Re2Semantics(string pattern, string input, bool expected)
    {
        Assert.Equal(expected, CompiledRegex.Create(pattern).IsMatch(input));
    }

    [Fact]
    public void ToDotNet_PlainPattern_Unchanged()
    {
        const string Pattern = "/api/v[0-9]+/.*";
        Assert.Equal(Pattern, Re2Syntax.ToDotNet(Pattern));
        Assert.Same("/health", Re2Syntax.ToDotNet("/health"));
    }

    [Fact]
    public void ToDotNet_NegatedPosixClass_Rejected()
    {
        Assert.Throws<ArgumentException>(() => CompiledRegex.Create("[[:^alpha:]]"));
    }

    [Fact]
    public void Create_InvalidPattern_ArgumentException()
    {
        Assert.ThrowsAny<ArgumentException>(() => CompiledRegex.Create("a(b"));
    }

    [Fact]
    public void Create_BacktrackingOnlyConstruct_FallsBackAndMatches()
    {
        // Backreferences are outside RE2 and the linear engine; still usable, bounded by a timeout.
        var regex = CompiledRegex.Create(@"(a)\1");
        Assert.True(regex.IsMatch("aa"));
        Assert.False(regex.IsMatch("ab"));
    }
}
