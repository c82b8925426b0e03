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
    public static int Select(IReadOnlyList<FilterChainConfig> chains, IPEndPoint destination, string transportProtocol, string? applicationProtocol) =>
        Select(chains, destination, serverName: null, transportProtocol, applicationProtocol is null ? [] : [applicationProtocol]);

    /// <param name="serverName">The SNI the TLS inspector found (lower case), or null.</param>
    /// <param name="applicationProtocols">ALPN offered by the client, or the sniffed HTTP protocol; a chain matches when it lists any of them.</param>
    /// <returns>
    /// The index of the chosen chain; the default_filter_chain (kept last, <see cref="FilterChainConfig.IsDefault"/>)
    /// when no other matches; -1 when none.
    /// </returns>
    public static int Select(IReadOnlyList<FilterChainConfig> chains, IPEndPoint destination, string? serverName, string transportProtocol, string[] applicationProtocols)
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
        NarrowServerName(chains, alive, serverName);
        Narrow(chains, alive, m => m.TransportProtocol is null, m => string.Equals(m.TransportProtocol, transportProtocol, StringComparison.Ordinal));
        Narrow(chains, alive, m => m.ApplicationProtocols.IsDefaultOrEmpty, m => ContainsAny(m.ApplicationProtocols, applicationProtocols));

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

    /// <summary>
    /// Envoy's server_names step: the exact name first, then wildcards from the longest suffix ("*.b.example.com", then
    /// "*.example.com", then "*.com"); chains without server_names only when no named chain matched (or there is no SNI).
    /// </summary>
    private static void NarrowServerName(IReadOnlyList<FilterChainConfig> chains, Span<bool> alive, string? serverName)
    {
        if (serverName is not null)
        {
            if (KeepNamed(chains, alive, serverName))
            {
                return;
            }

            for (var dot = serverName.IndexOf('.', StringComparison.Ordinal); dot >= 0; dot = serverName.IndexOf('.', dot + 1))
            {
                if (KeepNamed(chains, alive, "*" + serverName[dot..]))
                {
                    return;
                }
            }
        }

        for (var i = 0; i < chains.Count; i++)
        {
            alive[i] = alive[i] && chains[i].Match.ServerNames.IsDefaultOrEmpty;
        }
    }

    /// <summary>When a live chain lists <paramref name="name"/>, keeps only such chains and returns true.</summary>
    private static bool KeepNamed(IReadOnlyList<FilterChainConfig> chains, Span<bool> alive, string name)
    {
        var any = false;
        for (var i = 0; i < chains.Count && !any; i++)
        {
            any = alive[i] && ListsName(chains[i].Match.ServerNames, name);
        }

        if (!any)
        {
            return false;
        }

        for (var i = 0; i < chains.Count; i++)
        {
            alive[i] = alive[i] && ListsName(chains[i].Match.ServerNames, name);
        }

        return true;
    }

    private static bool ListsName(System.Collections.Immutable.ImmutableArray<string> names, string name)
    {
        foreach (var candidate in names)
        {
            if (string.Equals(candidate, name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool ContainsAny(System.Collections.Immutable.ImmutableArray<string> listed, string[] offered)
    {
        foreach (var protocol in offered)
        {
            if (listed.Contains(protocol))
            {
                return true;
            }
        }

        return false;
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
