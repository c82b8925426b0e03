using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Listeners;

namespace SharpProxy.Core.Tests.Listeners;

public sealed class FilterChainSelectorTests
{
    private static readonly IPEndPoint To9080 = new(IPAddress.Parse("10.1.2.3"), 9080);

    [Fact]
    public void Select_ExactPortBeatsWildcardWhateverTheOrder_PortChain()
    {
        FilterChainConfig[] chains = [Chain("any"), Chain("9080", port: 9080)];

        Assert.Equal(1, FilterChainSelector.Select(chains, To9080, "raw_buffer", null));
    }

    [Fact]
    public void Select_OtherPort_FallsBackToWildcard()
    {
        FilterChainConfig[] chains = [Chain("8080", port: 8080), Chain("any")];

        Assert.Equal(1, FilterChainSelector.Select(chains, To9080, "raw_buffer", null));
    }

    [Fact]
    public void Select_NoWildcardAndNoMatch_MinusOne()
    {
        FilterChainConfig[] chains = [Chain("8080", port: 8080)];

        Assert.Equal(-1, FilterChainSelector.Select(chains, To9080, "raw_buffer", null));
    }

    [Fact]
    public void Select_PrefixRangeMatch_WinsOverNoRange()
    {
        FilterChainConfig[] chains =
        [
            Chain("no-range", port: 9080),
            Chain("range", port: 9080, cidr: new CidrRange(IPAddress.Parse("10.1.0.0"), 16)),
            Chain("other-range", port: 9080, cidr: new CidrRange(IPAddress.Parse("192.168.0.0"), 16)),
        ];

        Assert.Equal(1, FilterChainSelector.Select(chains, To9080, "raw_buffer", null));
    }

    [Fact]
    public void Select_ApplicationProtocol_H2cChainForPrefaceHttp11ChainOtherwise()
    {
        FilterChainConfig[] chains = [Chain("h1", alpn: "http/1.1"), Chain("h2", alpn: "h2c"), Chain("tcp")];

        Assert.Equal(1, FilterChainSelector.Select(chains, To9080, "raw_buffer", "h2c"));
        Assert.Equal(0, FilterChainSelector.Select(chains, To9080, "raw_buffer", "http/1.1"));
        Assert.Equal(2, FilterChainSelector.Select(chains, To9080, "raw_buffer", null));
        Assert.True(FilterChainSelector.NeedsApplicationProtocol(chains));
    }

    [Theory]
    [InlineData("10.0.0.0", 8, "10.255.1.1", true)]
    [InlineData("10.0.0.0", 8, "11.0.0.1", false)]
    [InlineData("10.1.2.0", 23, "10.1.3.255", true)]
    [InlineData("10.1.2.0", 23, "10.1.4.0", false)]
    [InlineData("0.0.0.0", 0, "203.0.113.9", true)]
    [InlineData("fd00::", 8, "fd12::1", true)]
    [InlineData("fd00::", 8, "10.0.0.1", false)]
    public void Contains_Cidr_MatchesByPrefixBits(string prefix, int length, string address, bool expected)
    {
        Assert.Equal(expected, CidrMatcher.Contains(new CidrRange(IPAddress.Parse(prefix), length), IPAddress.Parse(address)));
    }

    [Fact]
    public void Select_DefaultFilterChain_OnlyWhenNoOtherMatches()
    {
        FilterChainConfig[] chains = [Chain("http", alpn: "http/1.1"), Chain("passthrough") with { IsDefault = true }];

        Assert.Equal(0, FilterChainSelector.Select(chains, To9080, "raw_buffer", "http/1.1"));
        Assert.Equal(1, FilterChainSelector.Select(chains, To9080, "raw_buffer", null));
    }

    [Fact]
    public void Select_DefaultFilterChain_NeverBeatsAMatchingWildcard()
    {
        FilterChainConfig[] chains = [Chain("any"), Chain("passthrough") with { IsDefault = true }];

        Assert.Equal(0, FilterChainSelector.Select(chains, To9080, "raw_buffer", null));
    }

    private static FilterChainConfig Chain(string name, int? port = null, CidrRange? cidr = null, string? alpn = null) => new()
    {
        Name = name,
        Match = new FilterChainMatchConfig
        {
            DestinationPort = port,
            PrefixRanges = cidr is { } c ? [c] : [],
            ApplicationProtocols = alpn is null ? [] : [alpn],
        },
    };
}
