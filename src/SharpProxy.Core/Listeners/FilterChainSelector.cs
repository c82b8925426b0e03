using System.Net;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Listeners;

/// <summary>
/// Envoy's filter chain matching: criteria are applied in a fixed order (destination port, destination IP,
/// server name, transport protocol, application protocol); at each step chains naming the value exactly win
/// over chains that leave the criterion empty, and the rest are dropped.
/// </summary>
internal static class FilterChainSelector
{
    /// <returns>
    /// The index of the chosen chain; the default_filter_chain (kept last, <see cref="FilterChainConfig.IsDefault"/>)
    /// when no other matches; -1 when none.
    /// </returns>
    public static int Select(IReadOnlyList<FilterChainConfig> chains, IPEndPoint destination, string transportProtocol, string? applicationProtocol)
    {
        if (chains.Count == 0)
        {
            return -1;
        }

        Span<bool> alive = chains.Count <= 256 ? stackalloc bool[chains.Count] : new bool[chains.Count];
        alive.Fill(true);
        var defaultIndex = chains[^1].IsDefault ? chains.Count - 1 : -1;
        if (defaultIndex >= 0)
        {
            alive[defaultIndex] = false;
        }

        Narrow(chains, alive, m => m.DestinationPort is null, m => m.DestinationPort == destination.Port);
        Narrow(chains, alive, m => m.PrefixRanges.IsDefaultOrEmpty, m => ContainsAddress(m, destination.Address));
        Narrow(chains, alive, m => m.ServerNames.IsDefaultOrEmpty, static _ => false);
        Narrow(chains, alive, m => m.TransportProtocol is null, m => string.Equals(m.TransportProtocol, transportProtocol, StringComparison.Ordinal));
        Narrow(chains, alive, m => m.ApplicationProtocols.IsDefaultOrEmpty, m => applicationProtocol is not null && m.ApplicationProtocols.Contains(applicationProtocol));

        for (var i = 0; i < alive.Length; i++)
        {
            if (alive[i])
            {
                return i;
            }
        }

        return defaultIndex;
    }

    /// <summary>True when the chain for <paramref name="destination"/> may depend on the application protocol (needs sniffing first).</summary>
    public static bool NeedsApplicationProtocol(IReadOnlyList<FilterChainConfig> chains)
    {
        for (var i = 0; i < chains.Count; i++)
        {
            if (!chains[i].Match.ApplicationProtocols.IsDefaultOrEmpty)
            {
                return true;
            }
        }

        return false;
    }

    private static void Narrow(IReadOnlyList<FilterChainConfig> chains, Span<bool> alive, Func<FilterChainMatchConfig, bool> isWildcard, Func<FilterChainMatchConfig, bool> matchesExactly)
    {
        var anyExact = false;
        for (var i = 0; i < chains.Count; i++)
        {
            if (alive[i] && !isWildcard(chains[i].Match) && matchesExactly(chains[i].Match))
            {
                anyExact = true;
                break;
            }
        }

        for (var i = 0; i < chains.Count; i++)
        {
            if (!alive[i])
            {
                continue;
            }

            var match = chains[i].Match;
            alive[i] = anyExact ? !isWildcard(match) && matchesExactly(match) : isWildcard(match);
        }
    }

    private static bool ContainsAddress(FilterChainMatchConfig match, IPAddress address)
    {
        foreach (var range in match.PrefixRanges)
        {
            if (CidrMatcher.Contains(range, address))
            {
                return true;
            }
        }

        return false;
    }
}
