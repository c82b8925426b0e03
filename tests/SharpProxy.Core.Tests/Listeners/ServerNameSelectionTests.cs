using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Listeners;

namespace SharpProxy.Core.Tests.Listeners;

/// <summary>Envoy's server_names step: exact first, then the longest "*.suffix", then chains without server_names.</summary>
public sealed class ServerNameSelectionTests
{
    private static readonly IPEndPoint To443 = new(IPAddress.Loopback, 443);

    private static readonly FilterChainConfig[] Chains =
    [
        Chain("any"),
        Chain("wild-example", "*.example.com"),
        Chain("wild-b", "*.b.example.com"),
        Chain("exact", "api.b.example.com", "www.example.com"),
        TransportChain("tls-only", "tls"),
    ];

    [Theory]
    [InlineData("api.b.example.com", "exact")]
    [InlineData("www.example.com", "exact")]
    [InlineData("x.b.example.com", "wild-b")]
    [InlineData("deep.x.b.example.com", "wild-b")]
    [InlineData("c.example.com", "wild-example")]
    [InlineData("example.org", "tls-only")]
    public void Select_Tls_ExactThenLongestWildcardThenUnnamed(string serverName, string expected)
    {
        var index = FilterChainSelector.Select(Chains, To443, serverName, "tls", []);

        Assert.Equal(expected, Chains[index].Name);
    }

    [Fact]
    public void Select_TlsWithoutSni_OnlyUnnamedChains()
    {
        var index = FilterChainSelector.Select(Chains, To443, serverName: null, "tls", []);

        Assert.Equal("tls-only", Chains[index].Name);
    }

    [Fact]
    public void Select_Plaintext_SkipsTlsChain()
    {
        var index = FilterChainSelector.Select(Chains, To443, serverName: null, "raw_buffer", []);

        Assert.Equal("any", Chains[index].Name);
    }

    [Fact]
    public void Select_NamedChainsOnly_UnknownSniMatchesNothing()
    {
        FilterChainConfig[] chains = [Chain("a", "a.example.com")];

        Assert.Equal(-1, FilterChainSelector.Select(chains, To443, "b.example.com", "tls", []));
    }

    [Fact]
    public void Select_AlpnList_MatchesWhenAnyOfferedProtocolIsListed()
    {
        FilterChainConfig[] chains =
        [
            new() { Name = "istio", Match = new FilterChainMatchConfig { ApplicationProtocols = ["istio-peer-exchange", "istio"] } },
            Chain("other"),
        ];

        Assert.Equal(0, FilterChainSelector.Select(chains, To443, null, "tls", ["h2", "istio"]));
        Assert.Equal(1, FilterChainSelector.Select(chains, To443, null, "tls", ["h2", "http/1.1"]));
    }

    private static FilterChainConfig Chain(string name, params string[] serverNames) => new()
    {
        Name = name,
        Match = new FilterChainMatchConfig { ServerNames = [.. serverNames] },
    };

    private static FilterChainConfig TransportChain(string name, string transport) => new()
    {
        Name = name,
        Match = new FilterChainMatchConfig { TransportProtocol = transport },
    };
}
